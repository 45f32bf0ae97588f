"""pull walks: indexes (scope key, change_seq); sync_changes, the scopes that read a row
through another record

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
    op.create_index('ix_outreach_visits_desa_seq', 'outreach_visits', ['desa_code', 'change_seq', 'id'])
    op.create_index('ix_persons_desa_seq', 'persons', ['desa_code', 'change_seq', 'id'])
    op.create_index('ix_persons_creator_seq', 'persons', ['created_by_id', 'change_seq', 'id'])
    op.create_index('ix_referrals_desa_seq', 'referrals', ['desa_code', 'change_seq', 'id'])
    op.create_index('ix_referrals_creator_seq', 'referrals', ['created_by_id', 'change_seq', 'id'])
    op.create_index('ix_referrals_organisation_seq', 'referrals',
                    ['assigned_organisation_id', 'change_seq', 'id'])
    # The entries of the rows already stored; the application's rule, as of this revision.
    from server.change_scopes import backfill

    backfill(op.get_bind())


def downgrade():
    op.drop_index('ix_referrals_organisation_seq', table_name='referrals')
    op.drop_index('ix_referrals_creator_seq', table_name='referrals')
    op.drop_index('ix_referrals_desa_seq', table_name='referrals')
    op.drop_index('ix_persons_creator_seq', table_name='persons')
    op.drop_index('ix_persons_desa_seq', table_name='persons')
    op.drop_index('ix_outreach_visits_desa_seq', table_name='outreach_visits')
    op.drop_index('ix_sync_changes_record', table_name='sync_changes')
    op.drop_table('sync_changes')
