"""The server change sequence: every change to a synced row gets the next number.

Writers allocate numbers with ``UPDATE sync_counters ... RETURNING``; the row lock that the
UPDATE takes is held until the transaction ends, so transactions that write synced rows
commit one after another, in the order of their numbers. A pull that reads up to the
committed high-water mark can therefore never skip a number that commits later
(the trap of SYNC-NOTES: a sequence value taken by a transaction that commits late).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

COUNTERS = sa.table("sync_counters", sa.column("name", sa.String),
                    sa.column("value", sa.BigInteger))
CHANGE_SEQ = "change_seq"
PURGED_BELOW = "purged_below"



def lock_writes(session) -> int:
    """Take the change-sequence lock for this transaction; returns the current value.

    Called first thing in a push so that, on SQLite, the transaction holds the write lock
    before it reads anything (a deferred transaction upgraded later can deadlock).
    """
    value = session.execute(
        sa.update(COUNTERS).where(COUNTERS.c.name == CHANGE_SEQ)
        .values(value=COUNTERS.c.value).returning(COUNTERS.c.value)
    ).scalar_one()
    return value


# Built once: it runs at every flush, and building it costs several times its execution.
_ALLOCATE = (
    sa.update(COUNTERS).where(COUNTERS.c.name == CHANGE_SEQ)
    .values(value=COUNTERS.c.value + sa.bindparam("count", type_=sa.BigInteger))
    .returning(COUNTERS.c.value)
)


def allocate(session, count: int = 1) -> int:
    """Reserve `count` numbers; returns the first of them."""
    last = session.execute(_ALLOCATE, {"count": count}).scalar_one()
    return last - count + 1


def high_water(session) -> int:
    """The highest change sequence committed so far (all lower ones are committed too)."""
    return session.execute(
        sa.select(COUNTERS.c.value).where(COUNTERS.c.name == CHANGE_SEQ)
    ).scalar_one()


def purged_below(session) -> int:
    """Cursors under this value are older than the kept tombstones and must reset."""
    return session.execute(
        sa.select(COUNTERS.c.value).where(COUNTERS.c.name == PURGED_BELOW)
    ).scalar_one()


def set_purged_below(session, value: int) -> None:
    session.execute(sa.update(COUNTERS).where(COUNTERS.c.name == PURGED_BELOW)
                    .values(value=sa.func.max(COUNTERS.c.value, value)
                            if session.get_bind().dialect.name == "sqlite"
                            else sa.func.greatest(COUNTERS.c.value, value)))


_synced_classes: tuple[type, ...] = ()


def _stamp(session, flush_context, instances):
    rows = [obj for obj in list(session.new) + list(session.dirty)
            if isinstance(obj, _synced_classes)
            and (obj in session.new or session.is_modified(obj))]
    if not rows:
        return
    first = allocate(session, len(rows))
    for offset, obj in enumerate(rows):
        obj.change_seq = first + offset


def install(session_class: type, synced_classes: tuple[type, ...]) -> None:
    """Stamp every new or changed row of `synced_classes` with the next change sequence.

    Any write path (a sync push, an API view, a CLI command) then feeds the pull cursor
    the same way, and none can forget it. Installing twice changes nothing.
    """
    global _synced_classes
    _synced_classes = tuple(synced_classes)
    if not event.contains(session_class, "before_flush", _stamp):
        event.listen(session_class, "before_flush", _stamp)


def touch(rows) -> None:
    """Give unchanged rows a new change sequence at the next flush, so pulls send them again.

    Used when a record enters someone's scope through another record (a person through a
    new referral, a referral's history through a forward): their cursor is already past it.
    """
    from sqlalchemy.orm.attributes import flag_modified

    for row in rows:
        flag_modified(row, "change_seq")
