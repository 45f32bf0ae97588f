"""The server change sequence: every change to a synced row gets the next number.

Writers allocate numbers with ``UPDATE sync_counters ... RETURNING``; the row lock that the
UPDATE takes is held until the transaction ends, so transactions that write synced rows
commit one after another, in the order of their numbers. A pull that reads up to the
committed high-water mark can therefore never skip a number that commits later
(the trap of SYNC-NOTES: a sequence value taken by a transaction that commits late).
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import flag_modified

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
# The conflict log (entries follow their record into a scope) and the table of exits (what
# left a scope), when installed.
_conflict_model: type | None = None
_exit_model: type | None = None


def _stamp(session, flush_context, instances):
    if _exit_model is not None:
        _record_exits(session)
    numbered = _synced_classes + ((_exit_model,) if _exit_model is not None else ())
    # session.new and session.dirty build a new set at each access: read each once, or a
    # flush of n rows costs n times n.
    rows = [obj for obj in session.new if isinstance(obj, numbered)]
    rows += [obj for obj in session.dirty
             if isinstance(obj, numbered) and session.is_modified(obj)]
    if not rows:
        return
    first = allocate(session, len(rows))
    for offset, obj in enumerate(rows):
        obj.change_seq = first + offset


def install(session_class: type, synced_classes: tuple[type, ...], *,
            conflict_model: type | None = None, exit_model: type | None = None) -> None:
    """Stamp every new or changed row of `synced_classes` with the next change sequence.

    Any write path (a sync push, an API view, a CLI command) then feeds the pull cursor
    the same way, and none can forget it. With `conflict_model`, a touched record's
    conflict entries are sent again with it; with `exit_model`, a change of a column
    marked `info={"scope": kind}` records the exit of the row and the rows related to it
    from the former scope (see scope_exits). Installing twice changes nothing.
    """
    global _synced_classes, _conflict_model, _exit_model
    _synced_classes = tuple(synced_classes)
    _conflict_model = conflict_model
    _exit_model = exit_model
    if not event.contains(session_class, "before_flush", _stamp):
        event.listen(session_class, "before_flush", _stamp)


def touch(rows) -> None:
    """Give unchanged rows a new change sequence at the next flush, so pulls send them again.

    Used when a record enters someone's scope through another record (a person through a
    new referral, a referral's history through a forward): their cursor is already past it.
    The rows' conflict entries come with them: whoever may read a record reads its
    conflicts, so they enter the scope at the same moment.
    """
    rows = [row for row in rows if row is not None]
    for row in rows:
        # A row not yet inserted takes a new number with its insert.
        if not sa.inspect(row).pending:
            flag_modified(row, "change_seq")
    ids = {row.id for row in rows if isinstance(getattr(row, "id", None), str)}
    session = object_session(rows[0]) if rows else None
    if _conflict_model is None or not ids or session is None:
        return
    model = _conflict_model
    # Read as stored: a flush here would stamp the touched rows one flush early.
    with session.no_autoflush:
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            entries = session.execute(
                sa.select(model).where(model.record_id.in_(ordered[start:start + 500]))
            ).scalars()
            for entry in entries:
                flag_modified(entry, "change_seq")


@functools.cache
def scope_columns(model) -> dict[str, str]:
    """The columns of a model that decide who reads its rows: {attribute: scope kind}."""
    mapper = sa.inspect(model)
    return {attr.key: attr.columns[0].info["scope"] for attr in mapper.column_attrs
            if "scope" in attr.columns[0].info}


def _record_exits(session) -> None:
    for row in list(session.dirty):
        if not isinstance(row, _synced_classes):
            continue
        for key, kind in scope_columns(type(row)).items():
            history = sa.inspect(row).attrs[key].history
            if not history.deleted or history.deleted[0] is None:
                continue
            if history.deleted[0] == getattr(row, key):
                continue
            scope = f"{kind}:{history.deleted[0]}"
            related = scope_exits(session, row)
            for left in related:
                session.add(_exit_model(entity=left.__tablename__, record_id=left.id,
                                        scope=scope))
            # The same rows, with their conflict entries, enter the new scope: their numbers
            # are behind its phones' cursors.
            touch(related)


def leave(session, rows, scopes, reason: str) -> None:
    """Record that `rows` leave the phones of each of `scopes` for `reason` (a withdrawal of
    consent, an erasure), numbered in this transaction like any exit: a phone whose cursor
    is behind it is told at its next pull (§12). `rows` may be of pull-only tables too."""
    if _exit_model is None:
        raise RuntimeError("sync exits are not installed")
    for row in rows:
        for scope in sorted(set(scopes)):
            session.add(_exit_model(entity=row.__tablename__, record_id=row.id, scope=scope,
                                    reason=reason))


def scope_exits(session, row) -> list:
    """The row and the synced rows read through it, which leave a scope with it: the rows
    that point to it (a person's consents and plans; a referral's events), the row it
    points to with the rows that point to that one (a referral's person, and the person's
    consents and plans). Rows with a scope of their own (a person's other referrals) are
    not read through it and stay out: naming them would tell a reader that they exist.
    Whoever can still read one of these rows keeps it: the pull checks each against the
    reader's scope."""
    found = {(type(row), row.id): row}
    with session.no_autoflush:
        for child in _pointing_to(session, row):
            found.setdefault((type(child), child.id), child)
        for parent in _pointed_to(session, row):
            found.setdefault((type(parent), parent.id), parent)
            for child in _pointing_to(session, parent):
                found.setdefault((type(child), child.id), child)
    return list(found.values())


def _synced_mappers(model) -> list:
    return [m for m in model.registry.mappers if issubclass(m.class_, _synced_classes)]


def _pointing_to(session, row) -> list:
    table = type(row).__table__
    out = []
    for mapper in _synced_mappers(type(row)):
        if scope_columns(mapper.class_):
            continue
        for column in mapper.local_table.columns:
            if any(fk.column.table is table for fk in column.foreign_keys):
                out.extend(session.execute(
                    sa.select(mapper.class_).where(column == row.id)).scalars())
    return out


def _pointed_to(session, row) -> list:
    classes = {m.local_table: m.class_ for m in _synced_mappers(type(row))}
    out = []
    for column in type(row).__table__.columns:
        for fk in column.foreign_keys:
            target = classes.get(fk.column.table)
            value = getattr(row, column.key, None)
            if target is not None and value is not None and target is not type(row):
                parent = session.get(target, value)
                if parent is not None:
                    out.append(parent)
    return out
