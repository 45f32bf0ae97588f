"""device_tokens.revoked_reason; live tokens of inactive accounts revoked for good

Revision ID: d3e1ce5a7e01
Revises: a3c9e1f07d42
Create Date: 2026-12-01 18:20:00.000000

"""
import datetime as dt

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3e1ce5a7e01'
down_revision = 'a3c9e1f07d42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_reason', sa.String(length=16), nullable=True))
    # Before this revision a deactivated account's tokens lived on and came back when the
    # account was activated again: end them now, as deactivation does from here on.
    tokens = sa.table('device_tokens', sa.column('user_id', sa.Integer()),
                      sa.column('revoked_at', sa.DateTime(timezone=True)),
                      sa.column('revoked_reason', sa.String(16)))
    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('is_active', sa.Boolean()))
    inactive = sa.select(users.c.id).where(users.c.is_active == sa.false())
    op.execute(tokens.update()
               .where(tokens.c.revoked_at.is_(None), tokens.c.user_id.in_(inactive))
               .values(revoked_at=dt.datetime.now(dt.UTC), revoked_reason='deactivated'))


def downgrade():
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_reason')
