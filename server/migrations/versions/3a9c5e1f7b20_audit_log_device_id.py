"""audit log: the device token of each entry

Revision ID: 3a9c5e1f7b20
Revises: d7a3e5c1f920
Create Date: 2026-12-01 18:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3a9c5e1f7b20'
down_revision = 'd7a3e5c1f920'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_device_id'), ['device_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_device_id'))
        batch_op.drop_column('device_id')
