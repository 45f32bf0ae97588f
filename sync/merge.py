"""Merge rules: pure functions on plain dicts that give the same result on every replica.

A record is a dict of its fields plus bookkeeping (all keys that start with ``_``)::

    {"id": "<uuid>", "<field>": <value>, ...,
     "_clocks":  {"<field>": "<hlc of the write that set it>"},
     "_authors": {"<field>": "<author of that write>" | None},
     "_bases":   {"<field>": "<hlc that write's author had seen for the field>"},
     "_deleted": "<hlc of the delete>" | None,
     "_deleted_by": "<author of the delete>" | None,
     "_deleted_base": {"<field>": "<hlc the deleter had seen>"} | None}

A mutation is one change sent by a client::

    {"entity": str, "id": str, "op": "insert" | "upsert" | "delete",
     "fields": {...changed fields only...}, "hlc": str, "node": str,
     "client_id": str, "mutation_id": int, "author": str | None,
     "base": {"<field>": "<hlc>"}}           # optional, see below

``base`` holds, for the fields the author changed (for a delete: for every field), the
clock of the value the author's replica showed when the change was made; a field the
author's copy had no value for is left out (or null).  It tells a knowing overwrite from a
concurrent one.  Without it every overwrite by another node counts as concurrent, which
logs more than needed but never less.

Rules (docs/sync-protocol.md refers here):

* Plain fields: last writer wins per field.  Writes are ordered by ``write_order``: by
  their HLC, which ends with the node id, so ``(hlc, node)`` ties need no extra step --
  except that a write whose ``base`` for the field is at or above its own HLC sorts just
  after that base (its author saw the value stamped ``base`` and replaced it, so it comes
  after it whatever its own clock says; a server that clamps or corrects a phone's clock
  can put an edit below the value it replaced).  So a write wins over the write its base
  names, unless that one was itself placed after a higher base.  Two different writes
  with one identical order (a broken clock) are ordered by their canonical JSON so that
  every replica still picks the same one.
* A value that loses is never dropped silently.  When two writes of one field meet -- an
  incoming write against the stored one -- the loser goes to the conflict log with reason
  ``concurrent_edit`` unless (a) both values are equal, (b) both come from the same node
  (a node's later edit has always seen its own earlier one), or (c) the winner's ``base``
  for the field is exactly the loser's HLC (its author saw that value and replaced it).
  The stored record is the same whatever the order; the conflict *set* is the same in
  every order for two writes of a field, and for more writes this invariant holds in
  every order: for each value ``v`` a field was given that is not its final value, take
  the highest write of ``v`` (by ``write_order``); either the log holds an entry with its
  ``losing_hlc``, or a higher write of that field saw it (same node, or ``base`` equal to its HLC).
* Deletes leave a tombstone (``_deleted`` = the highest delete HLC); a deleted record
  stays deleted.  Its fields keep merging by the rule above, so no value disappears with
  it.  A field write the delete did not see (newer than the deleter's ``base`` for the
  field, or newer than the delete itself when the delete has no base) goes to the log
  against the delete: reason ``deleted`` if it is older than the delete (a race),
  ``edit_after_delete`` if newer (made on a device that did not know of the delete).
* Insert-only entities (notes, referral events): inserting an existing id with the same
  content is a no-op; if the content differs (an id collision) the earliest insert wins
  and each differing field of the other goes to the log with reason ``duplicate_id``.
  Updates and deletes are refused.
* Archive-only entities (persons) refuse deletes: archiving is an ordinary field write.

Refusals raise ``MergeRefused``; they depend only on the mutation and its entity kind,
never on the stored record, so a retried mutation is refused again with the same reason.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from sync import hlc as hlc_mod

OPS = ("insert", "upsert", "delete")
FIELD_KINDS = ("lww",)
BOOKKEEPING = ("_clocks", "_authors", "_bases", "_deleted", "_deleted_by", "_deleted_base")
CONFLICT_KEYS = (
    "entity",
    "id",
    "field",
    "winning_value",
    "winning_hlc",
    "winning_author",
    "losing_value",
    "losing_hlc",
    "losing_author",
    "reason",
)


class MergeRefused(Exception):
    """A mutation that the merge rules refuse; ``reason`` is a short machine code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _Write:
    """One write of one field: the unit that last-writer-wins compares."""

    value: Any
    hlc: str
    author: str | None
    base: str | None  # the HLC of the value the author saw for this field, if known

    def key(self) -> tuple:
        # The canonical JSON breaks ties between different writes that share an order.
        return (*write_order(self.hlc, self.base), canonical([self.value, self.author, self.base]))


@dataclass(frozen=True)
class _Delete:
    """One delete of a record."""

    hlc: str
    author: str | None
    base: dict[str, str] | None

    def key(self) -> tuple[str, str]:
        return (self.hlc, canonical([self.author, self.base]))

    def saw(self, field: str, write_hlc: str) -> bool:
        """True if the deleter had seen this write of field (or a newer one)."""
        if self.base is None:
            # Without a base the delete's own clock bounds what the deleter can have seen.
            return write_hlc <= self.hlc
        if hlc_mod.node_of(write_hlc) == hlc_mod.node_of(self.hlc) and write_hlc < self.hlc:
            return True
        return write_hlc <= self.base.get(field, "")


def write_order(stamp: str, base: str | None) -> tuple[str, int, str]:
    """The order of a field write with HLC stamp and base (the clock its author saw).

    ``(stamp, 0, stamp)`` normally; ``(base, 1, stamp)`` when the base is at or above the
    write's own HLC, so the write sorts just after the value it replaced and before any
    write stamped later than that value.  Compare the tuples as tuples of strings.
    """
    if base is not None and base >= stamp:
        return (base, 1, stamp)
    return (stamp, 0, stamp)


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, ASCII): equal values give equal strings."""
    # ASCII-only output makes the tie-break order the same in JavaScript, whose string
    # comparison works on UTF-16 code units rather than code points.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def same_value(a: Any, b: Any) -> bool:
    """True if a and b are the same JSON value (so 1 and True differ, as in JavaScript)."""
    if type(a) is type(b) and type(a) in PLAIN:
        # Of one of these types, equal values and only those have equal canonical JSON.
        return a == b
    return canonical(a) == canonical(b)


# JSON values of these types are equal exactly when their canonical JSON is.
PLAIN = (str, int, bool, type(None))


def mutation_key(mutation: dict) -> tuple[str, int]:
    """The identity of a mutation for de-duplication: (client_id, mutation_id)."""
    return (mutation["client_id"], mutation["mutation_id"])


def conflict_sort_key(entry: dict) -> str:
    """A total order on conflict entries, for comparing logs as sorted lists."""
    return canonical(entry)


def conflict_key(entry: dict) -> tuple:
    """The identity of a conflict entry: a log that stores each key once is idempotent."""
    return (
        entry["entity"],
        entry["id"],
        entry["field"],
        entry["losing_hlc"],
        entry["winning_hlc"],
        entry["reason"],
    )


def is_deleted(record: dict | None) -> bool:
    """True if record is a tombstone."""
    return record is not None and record.get("_deleted") is not None


def plain(record: dict) -> dict:
    """The record's id and fields, without bookkeeping."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def latest_clock(record: dict) -> str | None:
    """The highest field clock of record (an insert-only record's insert HLC)."""
    return max(record["_clocks"].values(), default=None)


def new_record(record_id: str) -> dict:
    """An empty record with all bookkeeping keys in place."""
    return {
        "id": record_id,
        "_clocks": {},
        "_authors": {},
        "_bases": {},
        "_deleted": None,
        "_deleted_by": None,
        "_deleted_base": None,
    }


def check_mutation(mutation: dict, kind: dict) -> None:
    """Raise MergeRefused unless mutation is well formed and allowed for its entity kind."""
    op = mutation.get("op")
    if op not in OPS:
        raise MergeRefused("bad_op", repr(op))
    rid = mutation.get("id")
    if not isinstance(rid, str) or not rid:
        raise MergeRefused("bad_id", repr(rid))
    stamp = mutation.get("hlc")
    if not hlc_mod.is_valid(stamp):
        raise MergeRefused("bad_hlc", repr(stamp))
    if mutation.get("node") != hlc_mod.node_of(stamp):
        raise MergeRefused("node_mismatch", f"{mutation.get('node')!r} vs {stamp!r}")
    fields = mutation.get("fields") or {}
    if not isinstance(fields, dict):
        raise MergeRefused("bad_fields", "fields must be an object")
    base = mutation.get("base")
    if base is not None:
        # null for a field means the author's copy had no value for it, as if left out.
        if not isinstance(base, dict) or not all(
            v is None or hlc_mod.is_valid(v) for v in base.values()
        ):
            raise MergeRefused("bad_base", repr(base))
    allowed = kind.get("fields")
    for name in fields:
        if not isinstance(name, str) or not name or name == "id" or name.startswith("_"):
            raise MergeRefused("reserved_field", repr(name))
        if allowed is not None and name not in allowed:
            raise MergeRefused("unknown_field", name)
        if allowed is not None and allowed[name] not in FIELD_KINDS:
            raise ValueError(f"unsupported field kind {allowed[name]!r} for {name!r}")
    if kind.get("insert_only"):
        if op != "insert":
            raise MergeRefused("insert_only", f"{op} on an insert-only entity")
        if not fields:
            raise MergeRefused("empty_insert", "an insert-only record needs fields")
    if op == "delete":
        if kind.get("archive_only"):
            raise MergeRefused("archive_only", "archive the record instead of deleting it")
        if fields:
            raise MergeRefused("bad_fields", "a delete carries no fields")


def apply_mutation(record: dict | None, mutation: dict, kind: dict) -> tuple[dict, list[dict]]:
    """Apply one mutation to a record (or None): returns (new_record, conflicts).

    The input record is not changed.  Raises MergeRefused for a mutation the rules refuse.
    """
    check_mutation(mutation, kind)
    if record is not None and record.get("id") != mutation["id"]:
        raise ValueError(f"mutation for {mutation['id']!r} applied to {record.get('id')!r}")
    entity = mutation.get("entity", "")
    out = copy.deepcopy(record) if record is not None else new_record(mutation["id"])
    fields = mutation.get("fields") or {}
    if kind.get("insert_only"):
        if record is None:
            _fill_insert(out, fields, mutation["hlc"], mutation.get("author"))
            return out, []
        return _merge_insert_only(entity, out, fields, mutation["hlc"], mutation.get("author"))
    base = _base_of(mutation)
    if mutation["op"] == "delete":
        delete = _Delete(mutation["hlc"], mutation.get("author"), base)
        return out, _merge_delete(entity, out, delete)
    base = base or {}
    conflicts: list[dict] = []
    for name in sorted(fields):
        write = _Write(fields[name], mutation["hlc"], mutation.get("author"), base.get(name))
        conflicts.extend(_merge_write(entity, out, name, write))
    return out, conflicts


def merge_records(
    local: dict | None, remote: dict | None, kind: dict, entity: str = ""
) -> tuple[dict | None, list[dict]]:
    """Join two copies of one record (e.g. a pulled one into the local one).

    Gives the same record as applying every mutation either copy has seen; conflicts are
    found exactly as when the remote's writes arrive as mutations.  Merging the same pair
    again reports the same entries again: store them by ``conflict_key``.
    """
    if remote is None:
        return copy.deepcopy(local), []
    if local is None:
        return copy.deepcopy(remote), []
    if local["id"] != remote["id"]:
        raise ValueError(f"cannot merge {local['id']!r} with {remote['id']!r}")
    out = copy.deepcopy(local)
    if kind.get("insert_only"):
        stamp = latest_clock(remote)
        if stamp is None:
            return out, []
        author = next(iter(remote["_authors"].values()), None)
        if latest_clock(out) is None:
            _fill_insert(out, plain_fields(remote), stamp, author)
            return out, []
        return _merge_insert_only(entity, out, plain_fields(remote), stamp, author)
    conflicts: list[dict] = []
    for name in sorted(remote["_clocks"]):
        conflicts.extend(_merge_write(entity, out, name, _stored_write(remote, name)))
    if remote.get("_deleted") is not None:
        delete = _Delete(remote["_deleted"], remote.get("_deleted_by"), remote.get("_deleted_base"))
        conflicts.extend(_merge_delete(entity, out, delete))
    return out, conflicts


def plain_fields(record: dict) -> dict:
    """The record's fields only: no id, no bookkeeping."""
    return {k: v for k, v in plain(record).items() if k != "id"}


@dataclass
class BatchResult:
    """What apply_batch did: the new state and what happened to each mutation."""

    state: dict[str, dict[str, dict]]
    applied_ids: set[tuple[str, int]]
    applied: list[tuple[str, int]] = dc_field(default_factory=list)
    skipped: list[tuple[str, int]] = dc_field(default_factory=list)
    refused: list[dict] = dc_field(default_factory=list)
    conflicts: list[dict] = dc_field(default_factory=list)


def apply_batch(
    state: dict[str, dict[str, dict]],
    mutations: list[dict],
    applied_ids: set[tuple[str, int]],
    kinds: dict[str, dict],
) -> BatchResult:
    """Apply mutations in order to state ``{entity: {id: record}}``, each at most once.

    A mutation whose (client_id, mutation_id) is in applied_ids, or earlier in the batch,
    is skipped.  A refused one is reported with its reason and the rest go on; it is not
    marked applied, and a retry is refused again for the same reason.  Inputs are not
    changed: the result carries the new state and the new set of applied ids.
    """
    new_state = {entity: dict(records) for entity, records in state.items()}
    result = BatchResult(state=new_state, applied_ids=set(applied_ids))
    for mutation in mutations:
        key = mutation_key(mutation)
        if key in result.applied_ids:
            result.skipped.append(key)
            continue
        entity = mutation.get("entity")
        try:
            if entity not in kinds:
                raise MergeRefused("unknown_entity", repr(entity))
            records = new_state.setdefault(entity, {})
            record, conflicts = apply_mutation(records.get(mutation["id"]), mutation, kinds[entity])
        except MergeRefused as refusal:
            result.refused.append(
                {"client_id": key[0], "mutation_id": key[1], "reason": refusal.reason}
            )
            continue
        records[mutation["id"]] = record
        result.applied_ids.add(key)
        result.applied.append(key)
        result.conflicts.extend(conflicts)
    return result


# --- internals -------------------------------------------------------------------------


def _base_of(mutation: dict) -> dict[str, str] | None:
    """The mutation's base without null entries; None if it sent no base at all."""
    base = mutation.get("base")
    if base is None:
        return None
    return {name: stamp for name, stamp in base.items() if stamp is not None}


def _stored_write(record: dict, name: str) -> _Write | None:
    stamp = record["_clocks"].get(name)
    if stamp is None:
        return None
    return _Write(record.get(name), stamp, record["_authors"].get(name), record["_bases"].get(name))


def _put(record: dict, name: str, write: _Write) -> None:
    # A copy, so that the new record shares no list or dict with the mutation or the
    # other record: callers may keep and change either.
    record[name] = copy.deepcopy(write.value)
    record["_clocks"][name] = write.hlc
    record["_authors"][name] = write.author
    if write.base is None:
        record["_bases"].pop(name, None)
    else:
        record["_bases"][name] = write.base


def _conflict(
    entity: str,
    record_id: str,
    name: str,
    winner: _Write | _Delete,
    loser: _Write,
    reason: str,
) -> dict:
    return {
        "entity": entity,
        "id": record_id,
        "field": name,
        "winning_value": copy.deepcopy(winner.value) if isinstance(winner, _Write) else None,
        "winning_hlc": winner.hlc,
        "winning_author": winner.author,
        "losing_value": copy.deepcopy(loser.value),
        "losing_hlc": loser.hlc,
        "losing_author": loser.author,
        "reason": reason,
    }


def _lww_reason(winner: _Write, loser: _Write) -> str | None:
    """Why the loser goes to the log, or None when it is not a conflict."""
    if same_value(winner.value, loser.value):
        return None
    if winner.hlc == loser.hlc:
        return "hlc_collision"
    if hlc_mod.node_of(winner.hlc) == hlc_mod.node_of(loser.hlc):
        return None
    if winner.base == loser.hlc:
        return None
    return "concurrent_edit"


def _current_delete(record: dict) -> _Delete | None:
    if record.get("_deleted") is None:
        return None
    return _Delete(record["_deleted"], record.get("_deleted_by"), record.get("_deleted_base"))


def _delete_reason(delete: _Delete, name: str, write: _Write) -> str | None:
    if delete.saw(name, write.hlc):
        return None
    return "edit_after_delete" if write.hlc > delete.hlc else "deleted"


def _merge_write(entity: str, record: dict, name: str, write: _Write) -> list[dict]:
    """Merge one field write into record in place; return the conflict entries."""
    stored = _stored_write(record, name)
    if stored is not None and stored.key() == write.key():
        return []  # the same write again
    conflicts = []
    if stored is None or write.key() > stored.key():
        _put(record, name, write)
        if stored is not None:
            reason = _lww_reason(write, stored)
            if reason:
                conflicts.append(_conflict(entity, record["id"], name, write, stored, reason))
    else:
        reason = _lww_reason(stored, write)
        if reason:
            conflicts.append(_conflict(entity, record["id"], name, stored, write, reason))
    delete = _current_delete(record)
    if delete is not None:
        reason = _delete_reason(delete, name, write)
        if reason:
            conflicts.append(_conflict(entity, record["id"], name, delete, write, reason))
    return conflicts


def _merge_delete(entity: str, record: dict, delete: _Delete) -> list[dict]:
    """Merge a delete into record in place; return the conflict entries."""
    current = _current_delete(record)
    if current is not None and current.key() >= delete.key():
        # The stored delete already wins; the stored fields were checked against it.
        return []
    record["_deleted"] = delete.hlc
    record["_deleted_by"] = delete.author
    record["_deleted_base"] = copy.deepcopy(delete.base)
    conflicts = []
    for name in sorted(record["_clocks"]):
        write = _stored_write(record, name)
        reason = _delete_reason(delete, name, write)
        if reason:
            conflicts.append(_conflict(entity, record["id"], name, delete, write, reason))
    return conflicts


def _fill_insert(record: dict, fields: dict, stamp: str, author: str | None) -> None:
    for name in sorted(fields):
        _put(record, name, _Write(fields[name], stamp, author, None))


def _merge_insert_only(
    entity: str, record: dict, fields: dict, stamp: str, author: str | None
) -> tuple[dict, list[dict]]:
    """Merge a second insert of an insert-only record: the earliest insert wins whole."""
    stored_fields = plain_fields(record)
    stored_stamp = latest_clock(record)
    stored_author = record["_authors"].get(min(record["_clocks"]))
    stored_key = (stored_stamp, canonical([stored_fields, stored_author]))
    incoming_key = (stamp, canonical([fields, author]))
    if stored_key == incoming_key:
        return record, []  # a retried insert: nothing to do
    if incoming_key < stored_key:
        win = (fields, stamp, author)
        lose = (stored_fields, stored_stamp, stored_author)
        out = new_record(record["id"])
        _fill_insert(out, fields, stamp, author)
    else:
        win = (stored_fields, stored_stamp, stored_author)
        lose = (fields, stamp, author)
        out = record
    conflicts = []
    for name in sorted(set(win[0]) | set(lose[0])):
        winner = _Write(win[0].get(name), win[1], win[2], None)
        loser = _Write(lose[0].get(name), lose[1], lose[2], None)
        if not same_value(winner.value, loser.value):
            conflicts.append(_conflict(entity, record["id"], name, winner, loser, "duplicate_id"))
    return out, conflicts
