"""persons: an index on (desa_code, birth_date) for the possible duplicates' lookup; the
index of processing_stopped_at only over the persons whose processing stopped

Revision ID: b7d4f2a9c6e3
Revises: e5b2c8d1f4a6
Create Date: 2026-12-01 23:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

STOPPED = sa.text("processing_stopped_at IS NOT NULL")


# revision identifiers, used by Alembic.
revision = 'b7d4f2a9c6e3'
down_revision = 'e5b2c8d1f4a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_persons_desa_birth', 'persons', ['desa_code', 'birth_date'])
    op.drop_index('ix_persons_processing_stopped_at', table_name='persons')
    op.create_index('ix_persons_processing_stopped_at', 'persons', ['processing_stopped_at'],
                    sqlite_where=STOPPED, postgresql_where=STOPPED)


def downgrade():
    op.drop_index('ix_persons_processing_stopped_at', table_name='persons')
    op.create_index('ix_persons_processing_stopped_at', 'persons', ['processing_stopped_at'])
    op.drop_index('ix_persons_desa_birth', table_name='persons')
