"""rights of the person: processing stopped, erasure, exit reasons

Revision ID: d7a3e5c1f920
Revises: d3e1ce5a7e01
Create Date: 2026-12-01 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a3e5c1f920'
down_revision = 'd3e1ce5a7e01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processing_stopped_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('registration_age', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_persons_processing_stopped_at'),
                              ['processing_stopped_at'], unique=False)
    # Every exit recorded before had one reason: a record left a scope.
    with op.batch_alter_table('sync_exits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=20), nullable=False,
                                      server_default='scope_left'))


def downgrade():
    with op.batch_alter_table('sync_exits', schema=None) as batch_op:
        batch_op.drop_column('reason')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_processing_stopped_at'))
        batch_op.drop_column('registration_age')
        batch_op.drop_column('erased_at')
        batch_op.drop_column('processing_stopped_at')
