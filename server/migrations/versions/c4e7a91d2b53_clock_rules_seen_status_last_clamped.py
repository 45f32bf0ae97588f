"""clock rules: the status a referral event's writer saw; a client's last clamps

Revision ID: c4e7a91d2b53
Revises: bfa025693e11
Create Date: 2026-12-01 15:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e7a91d2b53'
down_revision = 'bfa025693e11'
branch_labels = None
depends_on = None


def upgrade():
    # Events recorded before carry no seen status: they are checked as before.
    with op.batch_alter_table('referral_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seen_status', sa.String(length=20), nullable=True))
    # Existing clients have no clamps to answer again.
    with op.batch_alter_table('sync_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_clamped', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))


def downgrade():
    with op.batch_alter_table('sync_clients', schema=None) as batch_op:
        batch_op.drop_column('last_clamped')
    with op.batch_alter_table('referral_events', schema=None) as batch_op:
        batch_op.drop_column('seen_status')
