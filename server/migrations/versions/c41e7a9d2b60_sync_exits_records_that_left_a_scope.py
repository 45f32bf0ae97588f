"""sync exits: records that left a scope

Revision ID: c41e7a9d2b60
Revises: 0574a554bae2
Create Date: 2026-12-01 16:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41e7a9d2b60'
down_revision = '0574a554bae2'
branch_labels = None
depends_on = None


def upgrade():
    # Empty at first: records that left a scope before this table existed stay on phones
    # until those phones reset.
    op.create_table(
        'sync_exits',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('entity', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.String(length=36), nullable=False),
        sa.Column('scope', sa.String(length=60), nullable=False),
        sa.Column('change_seq', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_exits')),
    )
    with op.batch_alter_table('sync_exits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_exits_change_seq'), ['change_seq'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('sync_exits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_exits_change_seq'))
    op.drop_table('sync_exits')
