"""flask rotate-keys: every encrypted value under the current data key, every NIK hash under
the current DATA_HMAC_KEY.

To change keys: put a new key first in DATA_KEYS and keep the old ones after it, restart
the app (it writes with the new key and still reads the old), run `flask rotate-keys`, then
remove the old keys. To change DATA_HMAC_KEY: set the new one and run the command at once;
NIK matches against persons not yet rehashed are missed until it ends.

Works a batch at a time with a commit per batch, so a stopped run is simply run again. A
value is rewritten only if it still holds what was read (a write of the app in between
wins; it is under the current key already). Rows are updated below the ORM: a new
encryption of the same value is no change for the phones (no change sequence is taken).
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from . import crypto
from .extensions import db


def _raw(table: sa.Table, column: sa.Column) -> sa.TableClause:
    """The table's key and the column as stored (text), without decrypting."""
    (key,) = table.primary_key.columns
    return sa.table(table.name, sa.column(key.name, key.type), sa.column(column.name, sa.Text))


def reencrypt(table: sa.Table, column: sa.Column, batch: int) -> int:
    """Rewrite the values of one column not under the current key; returns how many."""
    ring = crypto.keyring()
    prefix = f"{crypto.VERSION}:{ring.current}:"
    raw = _raw(table, column)
    key, value = raw.c[table.primary_key.columns[0].name], raw.c[column.name]
    context = column.type.column
    done = 0
    while True:
        rows = db.session.execute(
            sa.select(key, value).where(value.is_not(None),
                                        sa.func.substr(value, 1, len(prefix)) != prefix)
            .order_by(key).limit(batch)).all()
        if not rows:
            return done
        for row_key, stored in rows:
            fresh = ring.encrypt(ring.decrypt(stored, context), context)
            done += db.session.execute(
                sa.update(raw).where(key == row_key, value == stored).values({value: fresh})
            ).rowcount
        db.session.commit()


def rehash(batch: int) -> int:
    """Recompute the NIK hashes that differ from the current key's; returns how many."""
    from .models import Person

    table = Person.__table__
    raw = sa.table(table.name, sa.column("id"), sa.column("nik", sa.Text),
                   sa.column("nik_hash"))
    done, last = 0, None
    while True:
        query = sa.select(raw.c.id, raw.c.nik, raw.c.nik_hash).order_by(raw.c.id).limit(batch)
        if last is not None:
            query = query.where(raw.c.id > last)
        rows = db.session.execute(query).all()
        if not rows:
            return done
        for row_id, stored, old in rows:
            new = crypto.nik_hash(crypto.decrypt_text(stored, "persons.nik"))
            if new != old:
                done += db.session.execute(
                    sa.update(raw).where(raw.c.id == row_id, raw.c.nik == stored)
                    .values(nik_hash=new)).rowcount
        db.session.commit()
        last = rows[-1][0]


@click.command("rotate-keys")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1),
              help="Rows per transaction.")
@with_appcontext
def rotate_keys_command(batch: int) -> None:
    """Re-encrypt every value under the first key of DATA_KEYS and recompute the NIK
    hashes under DATA_HMAC_KEY; prints how many values changed in each column."""
    try:
        for table, column in crypto.encrypted_columns(db.metadata):
            count = reencrypt(table, column, batch)
            click.echo(f"{table.name}.{column.name}: {count} re-encrypted")
        click.echo(f"persons.nik_hash: {rehash(batch)} recomputed")
    except crypto.DecryptError as e:
        db.session.rollback()
        raise click.ClickException(f"{e} / Nilai terenkripsi tidak dapat dibaca; periksa "
                                   "DATA_KEYS") from None
    click.echo(f"Every value is now under key {crypto.keyring().current}; the other keys of "
               "DATA_KEYS can be removed.")
