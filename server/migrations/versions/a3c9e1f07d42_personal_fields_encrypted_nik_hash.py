"""personal fields encrypted at rest (NIK, phone, notes, conflict values); the NIK's keyed
hash for lookups

Revision ID: a3c9e1f07d42
Revises: febc7860b331
Create Date: 2026-12-01 18:30:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa

from server import crypto


# revision identifiers, used by Alembic.
revision = 'a3c9e1f07d42'
down_revision = 'febc7860b331'
branch_labels = None
depends_on = None

# The columns encrypted by this revision, as they were then: (table, column, JSON?).
COLUMNS = (
    ('persons', 'nik', False),
    ('persons', 'phone', False),
    ('referrals', 'reason', False),
    ('referrals', 'outcome', False),
    ('referral_events', 'note', False),
    ('referral_events', 'outcome', False),
    ('outreach_visits', 'notes', False),
    ('conflicts', 'winning_value', True),
    ('conflicts', 'losing_value', True),
)
BATCH = 500


def _rows(conn, table: str, columns: list[str]):
    """All rows of a table, by id, a batch at a time (the table may be large)."""
    t = sa.table(table, sa.column('id'), *(sa.column(c) for c in columns))
    last = None
    while True:
        query = sa.select(t).order_by(t.c.id).limit(BATCH)
        if last is not None:
            query = query.where(t.c.id > last)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return
        yield t, rows
        last = rows[-1]['id']


def _encrypt(value, column: str, is_json: bool):
    if value is None:
        return None
    if is_json:
        # Read as text (the column is Text by now): JSON null becomes SQL NULL, as the
        # model stores None.
        parsed = json.loads(value) if isinstance(value, str) else value
        return crypto.encrypt_json(parsed, column)
    return crypto.encrypt_text(value, column)


def _decrypt(value, column: str, is_json: bool):
    if value is None:
        return None
    if is_json:
        return json.dumps(crypto.decrypt_json(value, column))
    return crypto.decrypt_text(value, column)


def _convert(convert, *, with_hash: bool) -> None:
    """Rewrite every value of COLUMNS with `convert` (and the NIK hash, upgrading)."""
    conn = op.get_bind()
    tables: dict[str, list[tuple[str, bool]]] = {}
    for table, column, is_json in COLUMNS:
        tables.setdefault(table, []).append((column, is_json))
    for table, columns in tables.items():
        names = [c for c, _ in columns]
        for t, rows in _rows(conn, table, names):
            updates = []
            for row in rows:
                values = {name: convert(row[name], f'{table}.{name}', is_json)
                          for name, is_json in columns}
                if with_hash and table == 'persons':
                    values['nik_hash'] = crypto.nik_hash(row['nik'])
                updates.append({'b_id': row['id'], **values})
            target = sa.table(table, sa.column('id'), *(sa.column(n) for n in updates[0]
                                                       if n != 'b_id'))
            conn.execute(target.update().where(target.c.id == sa.bindparam('b_id'))
                         .values({n: sa.bindparam(n) for n in updates[0] if n != 'b_id'}),
                         updates)


def upgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_nik'))
        batch_op.alter_column('nik', existing_type=sa.String(length=16), type_=sa.Text(),
                              existing_nullable=True)
        batch_op.alter_column('phone', existing_type=sa.String(length=16), type_=sa.Text(),
                              existing_nullable=True)
        batch_op.add_column(sa.Column('nik_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_persons_nik_hash'), ['nik_hash'], unique=False)
    with op.batch_alter_table('conflicts', schema=None) as batch_op:
        for name in ('winning_value', 'losing_value'):
            batch_op.alter_column(name, existing_type=sa.JSON(), type_=sa.Text(),
                                  existing_nullable=True)
    # Under the keys of the app running the migration (DATA_KEYS, DATA_HMAC_KEY).
    _convert(_encrypt, with_hash=True)


def downgrade():
    _convert(_decrypt, with_hash=False)
    with op.batch_alter_table('conflicts', schema=None) as batch_op:
        for name in ('winning_value', 'losing_value'):
            batch_op.alter_column(name, existing_type=sa.Text(), type_=sa.JSON(),
                                  existing_nullable=True, postgresql_using=f'{name}::json')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_nik_hash'))
        batch_op.drop_column('nik_hash')
        batch_op.alter_column('phone', existing_type=sa.Text(), type_=sa.String(length=16),
                              existing_nullable=True)
        batch_op.alter_column('nik', existing_type=sa.Text(), type_=sa.String(length=16),
                              existing_nullable=True)
        batch_op.create_index(batch_op.f('ix_persons_nik'), ['nik'], unique=False)
