"""desk actions: appointments, outcomes and note audience on referral events; a referral's
latest appointment and first desk action

Revision ID: 5b1e0d7c9a24
Revises: c41e7a9d2b60
Create Date: 2026-12-01 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b1e0d7c9a24'
down_revision = 'c41e7a9d2b60'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('referral_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('appointment_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('place', sa.String(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('outcome', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('audience', sa.String(length=10), nullable=False,
                                      server_default='desk'))
    # Notes recorded before had no audience and every reader of the referral read them: they
    # stay readable by the village, so no phone holds a copy its user may no longer read.
    # New notes are the desk's unless written for the village (the least shown).
    op.execute("UPDATE referral_events SET audience = 'village'")
    # Referrals recorded before get their appointment and first desk action from the next
    # event; until then they show none.
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('appointment_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('appointment_place', sa.String(length=200),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('first_action_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_referrals_appointment_at'), ['appointment_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_first_action_at'), ['first_action_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_first_action_at'))
        batch_op.drop_index(batch_op.f('ix_referrals_appointment_at'))
        batch_op.drop_column('first_action_at')
        batch_op.drop_column('appointment_place')
        batch_op.drop_column('appointment_at')
    with op.batch_alter_table('referral_events', schema=None) as batch_op:
        batch_op.drop_column('audience')
        batch_op.drop_column('outcome')
        batch_op.drop_column('place')
        batch_op.drop_column('appointment_at')
