"""possible duplicates, persons merged into

Revision ID: 0574a554bae2
Revises: c4e7a91d2b53
Create Date: 2026-12-01 15:55:59.463114

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0574a554bae2'
down_revision = 'c4e7a91d2b53'
branch_labels = None
depends_on = None


def upgrade():
    # Pairs of persons who may be the same, pulled by phones; a merged person points to
    # the person kept.
    op.create_table('possible_duplicates',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('other_person_id', sa.String(length=36), nullable=False),
    sa.Column('match', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('kept_person_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['kept_person_id'], ['persons.id'], name=op.f('fk_possible_duplicates_kept_person_id_persons')),
    sa.ForeignKeyConstraint(['other_person_id'], ['persons.id'], name=op.f('fk_possible_duplicates_other_person_id_persons')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_possible_duplicates_person_id_persons')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_possible_duplicates_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_possible_duplicates')),
    sa.UniqueConstraint('person_id', 'other_person_id', name=op.f('uq_possible_duplicates_person_id'))
    )
    with op.batch_alter_table('possible_duplicates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_possible_duplicates_change_seq'), ['change_seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_possible_duplicates_other_person_id'), ['other_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_possible_duplicates_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_possible_duplicates_status'), ['status'], unique=False)

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_persons_merged_into_id_persons'), 'persons', ['merged_into_id'], ['id'])



def downgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_persons_merged_into_id_persons'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')

    with op.batch_alter_table('possible_duplicates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_possible_duplicates_status'))
        batch_op.drop_index(batch_op.f('ix_possible_duplicates_person_id'))
        batch_op.drop_index(batch_op.f('ix_possible_duplicates_other_person_id'))
        batch_op.drop_index(batch_op.f('ix_possible_duplicates_change_seq'))

    op.drop_table('possible_duplicates')
