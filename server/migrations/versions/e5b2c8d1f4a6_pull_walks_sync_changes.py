"""pull walks: sync_changes, each synced row's latest change once per scope that reads it

Revision ID: e5b2c8d1f4a6
Revises: 3a9c5e1f7b20
Create Date: 2026-12-01 22:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b2c8d1f4a6'
down_revision = '3a9c5e1f7b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sync_changes',
        sa.Column('scope', sa.String(length=60), nullable=False),
        sa.Column('entity', sa.String(length=40), nullable=False),
        sa.Column('change_seq', sa.BigInteger(), nullable=False),
        sa.Column('record_id', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'entity', 'change_seq', 'record_id',
                                name=op.f('pk_sync_changes')),
    )
    op.create_index('ix_sync_changes_record', 'sync_changes', ['entity', 'record_id'])
    # The entries of the rows already stored; the application's rule, as of this revision.
    from server.change_scopes import backfill

    backfill(op.get_bind())


def downgrade():
    op.drop_index('ix_sync_changes_record', table_name='sync_changes')
    op.drop_table('sync_changes')
