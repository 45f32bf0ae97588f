"""persons: an index on (desa_code, birth_date) for the possible duplicates' lookup

Revision ID: b7d4f2a9c6e3
Revises: e5b2c8d1f4a6
Create Date: 2026-12-01 23:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7d4f2a9c6e3'
down_revision = 'e5b2c8d1f4a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_persons_desa_birth', 'persons', ['desa_code', 'birth_date'])


def downgrade():
    op.drop_index('ix_persons_desa_birth', table_name='persons')
