"""The compact wire form of a pulled record (protocol 2, docs/sync-protocol.md §10).

A merge record (sync/merge.py) carries a clock and an author per field, though most fields
of a record share one: the write that made it. On the wire a record names that clock and
author once (`_clock`, `_author`) and lists in `_clocks` / `_authors` only the fields that
differ (a field with no clock as null); empty bookkeeping is left out, and the record's id
is the change's. `expand` gives back the merge record exactly; `compact(expand(x)) == x`
for every compact record this module makes, and `expand(compact(r)) == r` for every merge
record (sync/vectors/wire.json holds cases both sides check).

The echo rule: a phone that pushed a write gets no copy of what it wrote. Its answer
acknowledges the write; the phone applies it to its own copy of the server's record
(docs/sync-protocol.md §13), so a field it holds exactly as the server does need not come
back. `elide_echo` drops those fields from a change and marks it `partial`: the phone keeps
its own copy of every field the change leaves out.
"""

from __future__ import annotations

import copy
from collections import Counter

from .merge import canonical
from .merge import new_record
from .merge import same_value

DELETION = ("_deleted", "_deleted_by", "_deleted_base")
# Fields the server sends masked (server/domain/disclosure.py): the phone never keeps its
# own value of them (§12), so they always come back.
NEVER_ELIDED = {"persons": frozenset({"nik"})}


def _shared(values: list) -> object:
    """The value most fields share; a tie goes to the greatest by canonical JSON. (Clocks
    and authors are strings or null: counted as they are, canonical JSON only for a tie.)"""
    # Mostly one write made the record: every value the same, nothing to count.
    if values.count(values[0]) == len(values):
        return values[0]
    counts = Counter(values)
    top = max(counts.values())
    tied = [v for v, n in counts.items() if n == top]
    return tied[0] if len(tied) == 1 else max(tied, key=canonical)


def compact(record: dict) -> dict:
    """A merge record in its wire form (without `id`: the change carries it)."""
    return compact_parts(
        {k: v for k, v in record.items() if not k.startswith("_") and k != "id"},
        record.get("_clocks") or {}, record.get("_authors") or {},
        copy.deepcopy(record.get("_bases")),
        {key: copy.deepcopy(record.get(key)) for key in DELETION})


def compact_parts(fields: dict, clocks: dict, authors: dict, bases: dict | None,
                  deletion: dict) -> dict:
    """The wire form of a record given by its parts, as a row stores them (the pull builds
    it so, without a merge record first): its synced `fields` (the answer is built in this
    dict), the clock and author per field, the bases, and the deletion bookkeeping (the
    keys of DELETION, None when unset). The values are taken as they are, not copied."""
    # A field without a clock holds its default: said with a null clock.
    unclocked = fields.keys() - clocks.keys()
    if clocks:
        stamps = list(clocks.values())
        writers = list(map(authors.get, clocks))
        clock = _shared(stamps)
        author = _shared(writers)
        # A clock of a field the record does not carry is always listed: expand finds the
        # others by the record's fields. (Mostly every clock is the shared one and every
        # clock's field is carried: nothing to list, found by set operations alone.)
        if stamps.count(clock) == len(stamps):
            own_clocks = dict.fromkeys(clocks.keys() - fields.keys(), clock)
        else:
            own_clocks = {name: stamp for name, stamp in clocks.items()
                          if stamp != clock or name not in fields}
        if writers.count(author) == len(writers):
            own_authors = {}
        else:
            own_authors = {name: writer for name, writer in zip(clocks, writers, strict=True)
                           if writer != author}
        fields["_clock"] = clock
        fields["_author"] = author
    else:
        own_clocks, own_authors = {}, {}
    out = fields
    for name in unclocked:
        own_clocks[name] = None
    if own_clocks:
        out["_clocks"] = dict(sorted(own_clocks.items()))
    if own_authors:
        out["_authors"] = dict(sorted(own_authors.items()))
    if bases:
        out["_bases"] = bases
    for key in DELETION:
        if deletion.get(key) is not None:
            out[key] = deletion[key]
    return out


def expand(wire: dict, record_id: str) -> dict:
    """The merge record of a compact one: every field written with the shared clock and
    author unless `_clocks` / `_authors` name its own."""
    out = new_record(record_id)
    own_clocks = wire.get("_clocks") or {}
    own_authors = wire.get("_authors") or {}
    clock, author = wire.get("_clock"), wire.get("_author")
    for name, value in wire.items():
        if name.startswith("_") or name == "id":
            continue
        out[name] = copy.deepcopy(value)
        stamp = own_clocks[name] if name in own_clocks else clock
        if stamp is not None:
            out["_clocks"][name] = stamp
    # Clocks of fields the record does not carry (none of the server's today).
    for name, stamp in own_clocks.items():
        if name not in out and stamp is not None:
            out["_clocks"][name] = stamp
    for name in out["_clocks"]:
        out["_authors"][name] = copy.deepcopy(own_authors[name] if name in own_authors
                                              else author)
    out["_bases"] = copy.deepcopy(wire.get("_bases") or {})
    for key in DELETION:
        out[key] = copy.deepcopy(wire.get(key))
    return out


def apply_partial(local: dict | None, wire: dict, record_id: str) -> dict:
    """A partial change applied to the phone's copy: the fields it carries replace the
    copy's (value, clock, author, base); every other field stays as the copy has it. The
    deletion bookkeeping is always the change's."""
    incoming = expand(wire, record_id)
    out = copy.deepcopy(local) if local is not None else new_record(record_id)
    for key in ("_clocks", "_authors", "_bases"):
        out[key] = dict(out.get(key) or {})
    present = [k for k in wire if not k.startswith("_") and k != "id"]
    present += [k for k in (wire.get("_clocks") or {}) if k not in present]
    for name in present:
        if name in incoming:
            out[name] = incoming[name]
        for key in ("_clocks", "_authors", "_bases"):
            if name in incoming[key]:
                out[key][name] = incoming[key][name]
            else:
                out[key].pop(name, None)
    for key in DELETION:
        out[key] = incoming[key]
    return out


def own_writes(mutations: list[dict], handled: set[int], clamped: dict[int, str],
               kinds: dict[str, dict]) -> dict:
    """What a phone holds of its own acknowledged writes, after the answer that
    acknowledges them: {(entity, id): {field: {clock: (value as sent, base)}}}.

    `mutations` as the phone sent them; `handled` the ids it applies as acknowledged
    (applied or skipped, not refused); `clamped` the clocks the answer moves them to. An
    insert-only record keeps no base (sync/merge.py _fill_insert).
    """
    out: dict = {}
    for m in mutations:
        if m["mutation_id"] not in handled or m["op"] == "delete":
            continue
        stamp = clamped.get(m["mutation_id"], m["hlc"])
        insert_only = (kinds.get(m["entity"]) or {}).get("insert_only")
        base = {} if insert_only else (m.get("base") or {})
        fields = out.setdefault((m["entity"], m["id"]), {})
        for name, value in (m.get("fields") or {}).items():
            fields.setdefault(name, {})[stamp] = (value, base.get(name))
    return out


def elide_echo(change: dict, full: dict, own: dict, author: str) -> dict | None:
    """A change in its wire form for the phone whose own writes `own` describes: the record
    compact, the fields the phone holds exactly as the server does left out (the change
    then `partial`), or None when nothing is left to tell it. `full` is the change's merge
    record as disclosed."""
    entity = change["entity"]
    writes = own.get((entity, change["id"]))
    if not writes:
        return dict(change, record=compact(full))
    never = NEVER_ELIDED.get(entity, frozenset())
    clocks, authors, bases = full["_clocks"], full["_authors"], full["_bases"]
    held = []
    for name, by_clock in writes.items():
        stamp = clocks.get(name)
        if name in never or stamp not in by_clock or name not in full:
            continue
        value, base = by_clock[stamp]
        if (same_value(full[name], value) and authors.get(name) == author
                and bases.get(name) == base):
            held.append(name)
    if not held:
        return dict(change, record=compact(full))
    rest = {k: v for k, v in full.items() if k not in held}
    for key in ("_clocks", "_authors", "_bases"):
        rest[key] = {k: v for k, v in full[key].items() if k not in held}
    fields_left = any(not k.startswith("_") and k != "id" for k in rest)
    if not fields_left and full.get("_deleted") is None and "derived" not in change:
        return None
    return dict(change, record=compact(rest), partial=True)
