"""merge bookkeeping column sync_meta

Revision ID: 6108f5872bf3
Revises: 946974122470
Create Date: 2026-11-28 05:19:09.442714

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6108f5872bf3'
down_revision = '946974122470'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows get an empty bookkeeping map.
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_meta', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))

    with op.batch_alter_table('migration_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_meta', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))

    with op.batch_alter_table('outreach_visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_meta', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_meta', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))

    with op.batch_alter_table('referral_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_meta', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_meta', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))

    # ### end Alembic commands ###


def downgrade():
    # Existing rows get an empty bookkeeping map.
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('sync_meta')

    with op.batch_alter_table('referral_events', schema=None) as batch_op:
        batch_op.drop_column('sync_meta')

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_column('sync_meta')

    with op.batch_alter_table('outreach_visits', schema=None) as batch_op:
        batch_op.drop_column('sync_meta')

    with op.batch_alter_table('migration_plans', schema=None) as batch_op:
        batch_op.drop_column('sync_meta')

    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('sync_meta')

    # ### end Alembic commands ###
