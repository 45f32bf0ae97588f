"""sync clients: bound node, last refusals

Revision ID: bfa025693e11
Revises: 6108f5872bf3
Create Date: 2026-11-28 06:01:35.838404

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bfa025693e11'
down_revision = '6108f5872bf3'
branch_labels = None
depends_on = None


def upgrade():
    # Existing clients have no node yet (bound at their next push) and no refusals.
    with op.batch_alter_table('sync_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('node', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('last_refused', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))

    # ### end Alembic commands ###


def downgrade():
    # Existing clients have no node yet (bound at their next push) and no refusals.
    with op.batch_alter_table('sync_clients', schema=None) as batch_op:
        batch_op.drop_column('last_refused')
        batch_op.drop_column('node')

    # ### end Alembic commands ###
