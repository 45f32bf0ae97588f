"""Apply a push and build a pull, in one database transaction: takes a SQLAlchemy session.

The server describes each synced entity with an `EntitySpec` (its model, how to load and
dump its fields, and who may read and write it); this module knows nothing of HTTP or of
Flask, only of the session and the merge rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import object_session

from . import hlc as hlc_mod
from . import merge
from . import sequence
from . import wire
from .errorlog import error_summary
from .protocol import MAX_CLOCK_SKEW_MS
from .protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)

SERVER_NODE = "server"
BATCH_ROWS = "jangkau_batch_rows"
# How many refusals (and clamps) a client's record keeps, to answer them again on a retry.
KEPT_REFUSALS = 500
META_KEYS = ("_authors", "_bases", "_deleted_by", "_deleted_base")
# A validated mutation's fields as loaded, when they made a whole record (validate_batch).
LOADED_WHOLE = "_loaded_whole"


class Refusal(Exception):
    """One mutation refused: it is reported by id with a reason, and the batch goes on."""

    def __init__(self, reason: str, message_id: str, message_en: str,
                 fields: dict | None = None) -> None:
        super().__init__(message_en)
        self.reason = reason
        self.message_id = message_id
        self.message_en = message_en
        self.fields = fields

    def as_dict(self, mutation_id: int) -> dict:
        out = {"mutation_id": mutation_id, "reason": self.reason,
               "message": {"id": self.message_id, "en": self.message_en}}
        if self.fields:
            out["fields"] = self.fields
        return out


@dataclass
class Walk:
    """One walk of an index in change order that finds the rows of a scope: the rows where
    `where` holds, `seq` and `id` being their change sequence and record id, of the synced
    table itself or of a table of entries naming its rows (joined on `id`). `where` is an
    equality on the leading columns of an index that goes on with the change sequence (or
    nothing, on the change_seq index), so that `seq > cursor ORDER BY seq LIMIT n` reads n
    index entries whatever the cursor's distance, the database's size or its statistics
    (no upper bound: without statistics PostgreSQL takes a bounded range for a few rows and
    sorts it instead).

    As the page is loaded (the same walk over the page's range of sequences), `filter`
    (correlated probes by key of other tables, never a column of the row that has an index
    of its own, which a planner could prefer) and `keep` (a test of the row's own columns,
    in Python) leave out what the phone does not hold."""

    seq: Any
    id: Any
    where: Any = None
    filter: Any = None
    keep: Callable[[Any], bool] | None = None


@dataclass
class EntitySpec:
    """How the engine reads and writes one kind of synced record."""

    name: str
    model: type
    kind: dict
    # JSON fields -> Python values (marshmallow load); raises ValidationError.
    load: Callable[[dict, bool], dict]
    # A row -> its synced fields as JSON.
    dump: Callable[[Any], dict]
    # The WHERE clause of what a user may read.
    readable: Callable[[Any], Any]
    # Raise Refusal unless the user may write the record (before: row or None; after: values).
    authorize: Callable[[Any, Any, dict], None]
    # Fields the server sets on a row (derived, never from the client), after the merge.
    prepare: Callable[[Any, Any, Any, bool], None] | None = None
    # Work after a row is written (e.g. deriving a referral's status from its events).
    after_write: Callable[[Any, Any, Any, bool], None] | None = None
    # Server-set fields sent to clients beside the synced ones (status, labels, flags).
    derived: Callable[[Any], dict] | None = None
    # What a mutation may ask of the stored row whatever its clock, checked before the
    # merge (user, row or None, mutation): raise Refusal, or return True to skip it as a
    # repeat that changes nothing.
    screen: Callable[[Any, Any, dict], bool] | None = None
    # What one user receives of a pulled change (user, row, change -> change): fields
    # masked or withheld for their role. The merge and the server keep the full values.
    disclose: Callable[[Any, Any, dict], dict] | None = None
    # Of the readable rows, those phones may hold (user -> WHERE clause; None: all): the
    # pull sends no others, and removes them from phones that hold them (§12). A server
    # user may read more than their phone holds (a person whose processing stopped).
    on_phones: Callable[[Any], Any] | None = None
    # How the pull finds the rows the user's phone holds (user -> walks), exactly those of
    # `readable` and `on_phones` but for `pull_page`; None: by those clauses, walking the
    # change_seq index (tables of few rows: conflicts, possible duplicates).
    walks: Callable[[Any], list[Walk]] | None = None
    # A page's rows loaded by the walks, and how each is disclosed (session, user, rows ->
    # rows, disclose(row, change)): what disclosure looks up, once for the page.
    pull_page: Callable[[Any, Any, list], tuple[list, Callable[[Any, dict], dict]]] | None = None
    # Columns a pull never reads (not synced, not used by `derived`, `disclose` or a walk):
    # not loaded, so not decoded (a date parsed, a value decrypted) for a thousand rows.
    unread: tuple[str, ...] = ()


@dataclass
class PushResult:
    last_mutation_id: int
    applied: list[int] = dc_field(default_factory=list)
    skipped: list[int] = dc_field(default_factory=list)
    refused: list[dict] = dc_field(default_factory=list)
    clamped: dict[int, str] = dc_field(default_factory=dict)
    conflicts: int = 0


class BatchInvalid(Exception):
    """The batch cannot be applied at all; nothing of it is written."""

    def __init__(self, errors: dict) -> None:
        super().__init__("invalid batch")
        self.errors = errors


class ClientMismatch(Exception):
    """The client id belongs to another account: the app must start a new session."""


class NodeMismatch(Exception):
    """A mutation stamped by another node than the one this client is bound to."""

    def __init__(self, mutation_ids: list[int]) -> None:
        super().__init__("node mismatch")
        self.mutation_ids = mutation_ids


# Raised when the rules of what a role reads or receives change: every phone then starts
# over, so that it holds nothing it may no longer read or no longer receive in full.
READ_RULES_VERSION = 2


def scope_key(user) -> str:
    """A digest of what decides a user's scope; a change tells the client to reset."""
    raw = "|".join(str(x) for x in (user.id, user.role, user.desa_code, user.organisation_id,
                                    user.community_group_id, READ_RULES_VERSION))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def to_record(spec: EntitySpec, row) -> dict:
    """A database row as a merge record: its synced fields plus bookkeeping."""
    record = merge.new_record(row.id)
    record.update(spec.dump(row))
    record["_clocks"] = dict(row.field_clocks or {})
    meta = row.sync_meta or {}
    for key in META_KEYS:
        if key in meta:
            record[key] = meta[key]
    record["_deleted"] = row.deleted_hlc
    return record


def _store_record(row, record: dict) -> None:
    row.field_clocks = dict(record["_clocks"])
    row.sync_meta = {key: record.get(key) for key in META_KEYS}
    row.deleted_hlc = record["_deleted"]


def stamp_server_write(row, names, author: str, stamp: str | None = None) -> str:
    """Book an edit made on the server (the LTSA desk's web actions) as a mutation of the
    server's node: per field a new clock, the author, and as `base` the clock of the value
    it replaces, as stored when the edit is applied under the write lock (an API client
    that showed an older version says so with If-Match; see server/api/util.py). The merge
    then treats it exactly like a pushed mutation: a phone's older concurrent edit that
    arrives later loses to it and is logged.
    """
    clocks = dict(row.field_clocks or {})
    meta = dict(row.sync_meta or {})
    authors = dict(meta.get("_authors") or {})
    bases = dict(meta.get("_bases") or {})
    stamp = stamp or hlc_mod.now(SERVER_NODE, last=max(clocks.values(), default=None))
    for name in names:
        if name == "id":
            continue
        if name in clocks:
            bases[name] = clocks[name]
        else:
            bases.pop(name, None)
        clocks[name] = stamp
        authors[name] = author
    row.field_clocks = clocks
    row.sync_meta = meta | {"_authors": authors, "_bases": bases}
    return stamp


def validate_batch(registry: dict[str, EntitySpec], mutations: list[dict]) -> list[dict]:
    """Check every mutation's entity, op and field types before anything is written.

    Returns the mutations with their fields normalised (e.g. a phone number in E.164), so
    the merge compares the values that will be stored. Raises BatchInvalid naming each bad
    mutation by id.
    """
    errors: dict = {}
    out = []
    for m in mutations:
        mid = m["mutation_id"]
        spec = registry.get(m["entity"])
        if spec is None:
            errors[str(mid)] = {"entity": ["Unknown entity."]}
            continue
        try:
            node = hlc_mod.node_of(m["hlc"])
            candidate = dict(m, node=node, client_id="-", author=None)
            merge.check_mutation(candidate, spec.kind)
        except merge.MergeRefused as e:
            if e.reason == "unknown_field":
                errors[str(mid)] = {"fields": {e.detail: ["Unknown field."]}}
            else:
                errors[str(mid)] = {"op": [f"Mutation refused ({e.reason})."]}
            continue
        except hlc_mod.HLCError:
            errors[str(mid)] = {"hlc": ["Invalid value."]}
            continue
        whole = None
        try:
            if m["fields"]:
                try:
                    # A record sent whole (a new one, mostly) is loaded as apply_one will
                    # load it: it is not loaded twice (see _loaded_whole).
                    loaded = whole = spec.load(m["fields"], False)
                except ValidationError:
                    loaded = spec.load(m["fields"], True)
            else:
                loaded = {}
        except ValidationError as e:
            errors[str(mid)] = {"fields": e.messages}
            continue
        fields = _json_fields(spec, loaded, m["fields"])
        out.append(dict(m, fields=fields) if whole is None
                   else dict(m, fields=fields, **{LOADED_WHOLE: (fields, whole)}))
    if errors:
        raise BatchInvalid(errors)
    return out


def _json_fields(spec: EntitySpec, loaded: dict, sent: dict) -> dict:
    # Normalised values, as JSON, for exactly the fields the client sent. A value that
    # loads as itself (a plain string, number, flag or list of them) is its own JSON; the
    # others (dates, numbers in normal form) are dumped.
    changed = {name: loaded[name] for name in sent
               if name in loaded and not _loads_as_itself(sent[name], loaded[name])}
    if not changed:
        return dict(sent)
    dumped = spec.dump(_Values(changed))
    return {name: dumped.get(name, sent[name]) if name in changed else sent[name]
            for name in sent}


def _loads_as_itself(sent, loaded) -> bool:
    if type(sent) is not type(loaded):
        return False
    if type(sent) is list:
        return all(type(a) is type(b) and type(a) in merge.PLAIN and a == b
                   for a, b in zip(sent, loaded, strict=False)) and len(sent) == len(loaded)
    return type(sent) in merge.PLAIN and sent == loaded


class _Values:
    """Attribute access over a dict of loaded values, so a row dumper can dump it."""

    def __init__(self, values: dict) -> None:
        self._values = values

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def get_client(session, client_model, client_id: str, user, *, create: bool = True):
    """The sync client row, locked by the change-sequence lock the push already holds."""
    client = session.get(client_model, client_id)
    if client is not None and client.user_id != user.id:
        raise ClientMismatch()
    if client is None and create:
        client = client_model(client_id=client_id, user_id=user.id, last_mutation_id=0,
                              scope_key=scope_key(user))
        session.add(client)
    return client


def push(session, registry: dict[str, EntitySpec], client, user, mutations: list[dict],
         conflict_model, *, now_ms: int | None = None,
         device_time_ms: int | None = None) -> PushResult:
    """Apply a validated batch in order, each mutation at most once, in this transaction.

    A mutation id at or below the client's last applied id is skipped (a retry). A refused
    mutation writes nothing, is reported with its reason, and counts as handled: the client
    keeps it for the user to fix and sends the fix as a new mutation.

    A refusal comes before any write. For the unforeseen (an error of the code, a value
    the database refuses) the batch runs in a savepoint; if it fails, the batch is applied
    again with a savepoint per mutation, which undoes the failing mutation alone and
    refuses it (`server_error`): one bad record must not block a phone's queue. A
    savepoint per mutation from the start would cost a flush per mutation.
    """
    if not any(m["mutation_id"] > client.last_mutation_id for m in mutations):
        return _push(session, registry, client, user, mutations, conflict_model,
                     now_ms=now_ms, device_time_ms=device_time_ms, careful=False)
    try:
        with session.begin_nested():
            return _push(session, registry, client, user, mutations, conflict_model,
                         now_ms=now_ms, device_time_ms=device_time_ms, careful=False)
    except Exception as error:
        session.info.pop(BATCH_ROWS, None)
        if _transient(session, error):
            raise
    return _push(session, registry, client, user, mutations, conflict_model,
                 now_ms=now_ms, device_time_ms=device_time_ms, careful=True)


def _push(session, registry: dict[str, EntitySpec], client, user, mutations: list[dict],
          conflict_model, *, now_ms: int | None, device_time_ms: int | None,
          careful: bool) -> PushResult:
    now_ms = hlc_mod.wall_clock_ms() if now_ms is None else now_ms
    result = PushResult(last_mutation_id=client.last_mutation_id)
    # The batch's rows in one query per entity: the write lock is held, so none can appear
    # or change meanwhile but through this transaction.
    rows = BatchRows.load(session, registry, mutations, client.last_mutation_id)
    session.info[BATCH_ROWS] = rows
    # Clamped writes of one device keep their order: each follows that node's previous one.
    last_clamped: dict[str, str] = {}
    last_mutation_id = client.last_mutation_id
    for m in mutations:
        mid = m["mutation_id"]
        if mid <= last_mutation_id:
            result.skipped.append(mid)
            continue
        node = hlc_mod.node_of(m["hlc"])
        # In server time first (§15): undo the offset of a wrong date, then bound the rest.
        moved = hlc_mod.correction_ms(now_ms, m.get("offset_ms"), device_time_ms)
        stamp = hlc_mod.shift(m["hlc"], moved)
        base = hlc_mod.bound_base(m.get("base"), node, moved, now_ms, MAX_CLOCK_SKEW_MS)
        stamp, was_clamped = hlc_mod.clamp(stamp, now_ms, MAX_CLOCK_SKEW_MS,
                                           last=last_clamped.get(node))
        if was_clamped or moved < 0:
            # The clamped (or moved back) edit must still follow this device's own earlier
            # edits of the record, or a later correction would sort before them and vanish.
            own = _own_clocks(session, registry[m["entity"]], m["id"], node, rows)
            if own and (was_clamped or max(own) >= stamp):
                stamp = hlc_mod.now(node, last=max(own + [stamp]),
                                    wall_ms=hlc_mod.wall_of(stamp))
        if was_clamped:
            last_clamped[node] = stamp
        if stamp != m["hlc"]:
            result.clamped[mid] = stamp
        mutation = dict(m, hlc=stamp, base=base, node=hlc_mod.node_of(stamp),
                        client_id=client.client_id, author=str(user.id))
        spec = registry[m["entity"]]
        if not careful:
            try:
                result.conflicts += apply_one(session, spec, user, mutation, conflict_model,
                                              rows=rows)
                settle_conflicts(session, conflict_model, user, mutation)
                result.applied.append(mid)
            except Refusal as refusal:
                result.refused.append(refusal.as_dict(mid))
            last_mutation_id = mid
            continue
        absent, held, added = set(rows.absent), len(rows.held), dict(rows.added)
        try:
            with session.begin_nested():
                conflicts = apply_one(session, spec, user, mutation, conflict_model,
                                      rows=rows)
                settle_conflicts(session, conflict_model, user, mutation)
            result.conflicts += conflicts
            result.applied.append(mid)
        except Refusal as refusal:
            result.refused.append(refusal.as_dict(mid))
        except Exception as error:
            if _transient(session, error):
                raise
            rows.absent, rows.held[held:], rows.added = absent, [], added
            result.refused.append(_server_error(mid, m, error))
        last_mutation_id = mid
    # The policies' work put off to the end of the batch, once for all its records.
    rows.finish()
    session.info.pop(BATCH_ROWS, None)
    client.last_mutation_id = last_mutation_id
    result.last_mutation_id = last_mutation_id
    return result


def _transient(session, error: Exception) -> bool:
    """An error of the database or its connection, not of this mutation: the whole request
    fails and the phone retries it (a refusal would set good work aside for good)."""
    return (isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)
            or getattr(error, "connection_invalidated", False)
            or not session.is_active)


def _server_error(mid: int, mutation: dict, error: Exception) -> dict:
    error_id = uuid.uuid4().hex[:12]
    # The id in the refusal ties the user's report to this entry in the log: the error's
    # class and code locations, never its message (it may quote the mutation's values).
    log.error("sync mutation %s (%s %s) failed, error id %s: %s", mid, mutation["entity"],
              mutation["id"], error_id, error_summary(error))
    refusal = Refusal("server_error", f"Terjadi kesalahan di server (kode {error_id}).",
                      f"Something went wrong on the server (id {error_id}).")
    return refusal.as_dict(mid) | {"error_id": error_id}


def settle_conflicts(session, conflict_model, user, mutation: dict) -> None:
    """Mark resolved the open conflict entries an applied mutation names in `resolves`:
    the user chose a value offline and this edit writes it (§18). Only entries of this
    record and of a field the mutation writes count; the writer may read them, since it
    may write the record. Others are passed over."""
    written = mutation.get("fields") or {}
    for conflict_id in mutation.get("resolves") or ():
        entry = session.get(conflict_model, conflict_id)
        if (entry is None or entry.resolved_at is not None
                or (entry.entity, entry.record_id) != (mutation["entity"], mutation["id"])
                or entry.field not in written):
            continue
        entry.resolved_at = dt.datetime.now(dt.UTC)
        entry.resolved_by_id = user.id


def _own_clocks(session, spec: EntitySpec, record_id: str, node: str, rows) -> list[str]:
    key = (spec.name, record_id)
    row = None if rows is not None and key in rows.absent else session.get(spec.model, record_id)
    if row is None:
        return []
    return [c for c in (row.field_clocks or {}).values() if hlc_mod.node_of(c) == node]


def bind_node(client, mutations: list[dict], server_node: str = "server") -> None:
    """Every mutation of a client carries the node id of its first push, and never the
    server's: no device can pass for another phone or for the server in the merge."""
    nodes = {hlc_mod.node_of(m["hlc"]) for m in mutations if m["mutation_id"] >
             client.last_mutation_id}
    if client.node is None and len(nodes) == 1 and server_node not in nodes:
        node = nodes.pop()
        taken = object_session(client).execute(
            sa.select(type(client).client_id).where(type(client).node == node,
                                                    type(client).client_id != client.client_id)
        ).first()
        if taken is None:
            client.node = node
            return
    bad = [m["mutation_id"] for m in mutations
           if m["mutation_id"] > client.last_mutation_id
           and hlc_mod.node_of(m["hlc"]) != client.node]
    if bad:
        raise NodeMismatch(bad)


class BatchRows:
    """The rows a push touches, loaded up front with one query per entity.

    `held` keeps them, and the rows the batch adds, in the session's identity map (which
    holds unchanged rows only weakly), so `session.get` answers without a query; `absent`
    names the records that do not exist yet, sparing a query for each new record.
    """

    def __init__(self) -> None:
        self.held: list = []
        self.absent: set[tuple[str, str]] = set()
        # The rows the batch added, by (model, id): not in the identity map until flushed,
        # and the batch flushes once, at its end (see get_row).
        self.added: dict[tuple[type, str], Any] = {}
        self.names: dict[type, str] = {}
        self.mutations: list[dict] = []
        # What the policies look up once per batch (server.domain), and the work they put
        # off to the end of the batch, once for all its records, by key in order.
        self.cache: dict[str, Any] = {}
        self.deferred: dict[str, Callable[[], None]] = {}

    @staticmethod
    def current(session) -> BatchRows | None:
        """The batch a push is applying in this session, if any."""
        return session.info.get(BATCH_ROWS)

    @staticmethod
    def note_added(session, entity: str, record_id: str, row=None) -> None:
        """A hook added a row of its own: it exists now for the rest of the batch."""
        batch = session.info.get(BATCH_ROWS)
        if batch is not None:
            batch.absent.discard((entity, record_id))
            if row is not None:
                batch.added[(type(row), record_id)] = row

    def defer(self, key: str, work: Callable[[], None]) -> None:
        """Run `work` once at the end of the batch, before its flush."""
        self.deferred.setdefault(key, work)

    def finish(self) -> None:
        while self.deferred:
            key = next(iter(self.deferred))
            self.deferred.pop(key)()

    @classmethod
    def load(cls, session, registry: dict[str, EntitySpec], mutations: list[dict],
             last_mutation_id: int) -> BatchRows:
        batch = cls()
        batch.names = {spec.model: name for name, spec in registry.items()}
        batch.mutations = [m for m in mutations if m["mutation_id"] > last_mutation_id]
        wanted: dict[str, set[str]] = {}
        for m in batch.mutations:
            wanted.setdefault(m["entity"], set()).add(m["id"])
        for name, ids in wanted.items():
            model = registry[name].model
            ordered = sorted(ids)
            found = set()
            for start in range(0, len(ordered), 500):
                loaded = session.execute(
                    sa.select(model).where(model.id.in_(ordered[start:start + 500]))
                ).scalars().all()
                batch.held.extend(loaded)
                found.update(row.id for row in loaded)
            batch.absent.update((name, record_id) for record_id in ids - found)
        return batch


def get_row(session, model, record_id):
    """`session.get`, which in a push batch also finds the rows the batch added and has not
    flushed (the identity map holds flushed rows only), and knows the records that do not
    exist, all without a query or a flush."""
    batch = session.info.get(BATCH_ROWS)
    if batch is not None:
        row = batch.added.get((model, record_id))
        if row is not None and row in session:
            return row
        name = batch.names.get(model)
        if name is not None and (name, record_id) in batch.absent:
            return None
        # Every row the batch added is found above: the database answers alike unflushed.
        with session.no_autoflush:
            return session.get(model, record_id)
    return session.get(model, record_id)


_EVALUATORS: dict[type, Any] = {}


def batch_clause(session, key: tuple, build: Callable[[], Any]):
    """A WHERE clause built once per push batch (the same user's scope for every record),
    so its evaluator is compiled once too (readable_here); built afresh outside a batch."""
    batch = session.info.get(BATCH_ROWS)
    if batch is None:
        return build()
    key = ("jangkau_clause", *key)
    if key not in batch.cache:
        batch.cache[key] = build()
    return batch.cache[key]


def readable_here(session, model, row, clause) -> bool:
    """Whether `row` passes the WHERE clause `clause`, as the database would answer once
    the session is flushed. In a push batch a clause on the row's own columns is evaluated
    on the row in memory (a query would flush the batch so far, once per record); one that
    needs other rows (a subquery), or a row whose values are not all loaded, is asked of
    the database."""
    batch = session.info.get(BATCH_ROWS)
    if batch is not None:
        key = ("jangkau_evaluator", id(clause))
        compiled = batch.cache.get(key)
        if compiled is None or compiled[0] is not clause:
            compiled = batch.cache[key] = (clause, *_compile(model, clause))
        answer = _evaluate(row, *compiled[1:])
        if answer is not None:
            return answer
    return session.execute(
        sa.select(model.id).where(model.id == row.id, clause)
    ).first() is not None


def _compile(model, clause) -> tuple:
    """(evaluator or None, the columns it reads): None when only the database can tell."""
    from sqlalchemy.orm.evaluator import UnevaluatableError
    from sqlalchemy.orm.evaluator import _EvaluatorCompiler

    if isinstance(clause, sa.sql.elements.True_ | sa.sql.elements.False_):
        answer = isinstance(clause, sa.sql.elements.True_)
        return (lambda row: answer), ()
    mapper = sa.inspect(model)
    columns = []
    for element in sa.sql.visitors.iterate(clause):
        if not isinstance(element, sa.Column):
            continue
        if element.table is not model.__table__:
            return None, ()
        columns.append((mapper.get_property_by_column(element).key,
                        element.default is None and element.server_default is None))
    try:
        return _EvaluatorCompiler(model).process(clause), tuple(columns)
    except UnevaluatableError:
        return None, ()


def _evaluate(row, evaluate, columns) -> bool | None:
    if evaluate is None:
        return None
    state = sa.inspect(row)
    for key, null_by_default in columns:
        if key not in state.dict and not (state.pending and null_by_default):
            # Unloaded, or a default the flush would set: the database knows.
            return None
    try:
        answer = evaluate(row)
    except (AttributeError, TypeError):
        return None
    return answer if isinstance(answer, bool) else None


def apply_one(session, spec: EntitySpec, user, mutation: dict, conflict_model, *,
              rows: BatchRows | None = None) -> int:
    """Merge one mutation into its row; returns how many conflict entries it logged.

    Every check comes before the first write: a Refusal leaves the session untouched. A
    Refusal raised once writing has begun is a bug, and fails the whole transaction.
    """
    key = (spec.name, mutation["id"])
    if rows is not None and key in rows.absent:
        row = None
    else:
        row = session.get(spec.model, mutation["id"])
    if row is not None and not readable_here(
            session, spec.model, row,
            batch_clause(session, (spec.name, user.id), lambda: spec.readable(user))):
        raise Refusal("not_found", "Data tidak ditemukan.", "Record not found.")
    if spec.screen is not None and spec.screen(user, row, mutation):
        return 0
    before = to_record(spec, row) if row is not None else None
    try:
        after, conflicts = merge.apply_mutation(before, mutation, spec.kind)
    except merge.MergeRefused as e:
        # The merge's reason is the detail; the code says what kind of refusal it is.
        code = "forbidden" if e.reason in ("insert_only", "archive_only") else "invalid"
        raise Refusal(code, _merge_refusal_id(e.reason),
                      f"The change was refused ({e.reason}).") from None
    plain = merge.plain_fields(after)
    values = _loaded_whole(mutation, before, plain)
    if values is None:
        try:
            values = spec.load(plain, False)
        except ValidationError as e:
            raise Refusal("invalid", "Data tidak valid.", "Invalid data.",
                          fields=e.messages) from None
    # Nothing of this mutation is in the session yet: a query here may flush the rows of
    # the mutations before it (a new person, say, that this referral names).
    spec.authorize(user, row, values)
    _authorize_lost(spec, user, row, mutation, after)
    try:
        return _write(session, spec, user, mutation, conflict_model, row, values, after,
                      conflicts, key, rows)
    except Refusal as e:
        raise RuntimeError(f"{spec.name} {mutation['id']}: refused after writing; "
                           "the transaction must not commit") from e


def _loaded_whole(mutation: dict, before: dict | None, plain: dict) -> dict | None:
    """The values validate_batch loaded, when the merged record is exactly the record sent
    (a new one): loading it again would give the same."""
    kept = mutation.get(LOADED_WHOLE)
    if kept is None or before is not None:
        return None
    fields, whole = kept
    return whole if plain == fields else None


def _authorize_lost(spec: EntitySpec, user, row, mutation: dict, after: dict) -> None:
    """A write that lost the merge (its clock is older) still reaches the conflict log,
    where a user may later choose it: the writer must have had the right to make it. So the
    record as the writer meant it is authorised too, not only the merged one, which holds
    the stored value of each field the write lost."""
    if row is None:
        return
    sent = mutation.get("fields") or {}
    lost = [name for name, value in sent.items() if not merge.same_value(after[name], value)]
    if not lost:
        return
    try:
        meant = spec.load(merge.plain_fields(after) | {name: sent[name] for name in lost},
                          False)
    except ValidationError as e:
        raise Refusal("invalid", "Data tidak valid.", "Invalid data.", fields=e.messages) from None
    spec.authorize(user, row, meant)


def _write(session, spec: EntitySpec, user, mutation: dict, conflict_model, row, values: dict,
           after: dict, conflicts: list[dict], key: tuple[str, str],
           rows: BatchRows | None) -> int:
    is_new = row is None
    if is_new:
        row = spec.model(id=mutation["id"], created_by_id=user.id)
        session.add(row)
        if rows is not None:
            rows.absent.discard(key)
            rows.held.append(row)
            rows.added[(spec.model, row.id)] = row
    for name, value in values.items():
        setattr(row, name, value)
    _store_record(row, after)
    if spec.prepare:
        # Derived fields are not set yet: nothing may be flushed while they are looked up.
        with session.no_autoflush:
            spec.prepare(session, user, row, is_new)
    # The row is complete. It is flushed when a query needs it (autoflush) or at the end
    # of the push, so a run of new records is written in one flush, one sequence range:
    # the hooks find the batch's rows with get_row and look up the rest once per batch.
    if spec.after_write:
        spec.after_write(session, user, row, is_new)
    return log_conflicts(session, conflict_model, conflicts)


def _merge_refusal_id(reason: str) -> str:
    return {
        "insert_only": "Catatan dan riwayat tidak dapat diubah atau dihapus.",
        "archive_only": "Data warga tidak dihapus; arsipkan saja.",
        "unknown_field": "Kolom tidak dikenal.",
    }.get(reason, f"Perubahan ditolak ({reason}).")


def _author_id(author: str | None) -> int | None:
    return int(author) if author and author.isdigit() else None


def log_conflicts(session, conflict_model, conflicts: list[dict]) -> int:
    """Store conflict entries, each once (a retried merge finds the same entries)."""
    added = 0
    for c in conflicts:
        exists = session.execute(sa.select(conflict_model.id).where(
            conflict_model.entity == c["entity"], conflict_model.record_id == c["id"],
            conflict_model.field == c["field"], conflict_model.reason == c["reason"],
            conflict_model.losing_hlc == c["losing_hlc"],
            conflict_model.winning_hlc == c["winning_hlc"],
        )).first()
        if exists:
            continue
        session.add(conflict_model(
            entity=c["entity"], record_id=c["id"], field=c["field"], reason=c["reason"],
            winning_value=c["winning_value"], winning_hlc=c["winning_hlc"],
            winning_author_id=_author_id(c["winning_author"]),
            losing_value=c["losing_value"], losing_hlc=c["losing_hlc"],
            losing_author_id=_author_id(c["losing_author"]),
        ))
        added += 1
    return added


@dataclass
class PullResult:
    changes: list[dict]
    cursor: int
    more: bool
    reset: str | None = None
    # The high-water mark when the full download this page belongs to began: the client
    # sends it back with the next page (docs/sync-protocol.md §12).
    snapshot: int | None = None
    removed: list[dict] = dc_field(default_factory=list)


def pull(session, registry: dict[str, EntitySpec], user, cursor: int, limit: int,
         conflict_spec: EntitySpec | None = None,
         pull_only: tuple[EntitySpec, ...] = (), *, snapshot: int | None = None,
         exit_model=None) -> PullResult:
    """The changes after `cursor` that the user may read, oldest first, up to `limit`;
    besides the registry's entities, the conflicts and the `pull_only` entities (read-only
    records of the server, sent without merge bookkeeping).

    Reads only up to the committed high-water mark: every change at or below it is
    committed (writers commit in sequence order), so the new cursor never skips one.
    """
    top = sequence.high_water(session)
    if cursor > top or (snapshot is not None and snapshot > top):
        # A cursor from the future: the server's data was restored from a backup.
        return PullResult([], 0, False, reset="cursor_ahead")
    purged = sequence.purged_below(session)
    # A full download (cursor 0, then the pages of the same download) holds no record
    # deleted before it began: only tombstones made after its start matter to it, and
    # those are kept while purged_below stays at or below snapshot + 1.
    in_download = snapshot is not None and cursor <= snapshot and purged <= snapshot + 1
    if 0 < cursor < purged and not in_download:
        return PullResult([], 0, False, reset="cursor_expired")
    specs = [*registry.values(), *([conflict_spec] if conflict_spec else []), *pull_only]
    # Each walk reads at most limit + 1 entries in change order; the first `limit` of them
    # all, merged, are the page (a walk that filled its limit + 1 ends past the page).
    candidates: dict[tuple[str, str], tuple[int, EntitySpec, Any, int]] = {}
    for spec in specs:
        if spec.walks is None:
            model = spec.model
            # Their scope clauses are long to build and, on SQLite, read a scope's rows
            # whole: first a look at the change_seq index, usually empty for a short pull.
            if session.execute(sa.select(model.change_seq).where(
                    model.change_seq > cursor, model.change_seq <= top).limit(1)).first() is None:
                continue
            rows = session.execute(
                sa.select(model)
                .where(model.change_seq > cursor, model.change_seq <= top,
                       phone_readable(spec, user))
                .order_by(model.change_seq)
                .limit(limit + 1)
            ).scalars()
            for row in rows:
                candidates[(spec.name, row.id)] = (row.change_seq, spec, row, -1)
            continue
        for number, walk in enumerate(spec.walks(user)):
            found = session.execute(
                sa.select(walk.seq, walk.id)
                .where(*([walk.where] if walk.where is not None else []), walk.seq > cursor)
                .order_by(walk.seq)
                .limit(limit + 1)
            ).all()
            for seq, record_id in found:
                if seq > top:
                    break  # committed after this pull began: the next pull's
                # A record found by two walks: its latest entry (an older one is stale).
                known = candidates.get((spec.name, record_id))
                if known is None or known[0] < seq:
                    candidates[(spec.name, record_id)] = (seq, spec, record_id, number)
    ordered = sorted(candidates.values(), key=lambda c: c[0])
    page = ordered[:limit]
    more = len(ordered) > limit
    new_cursor = page[-1][0] if more else top
    changes = [change for _, change in sorted(_page_changes(session, user, page, cursor),
                                              key=lambda c: c[0])]
    if more:
        snapshot = top if cursor == 0 else snapshot
    else:
        snapshot = None
    removed = []
    if cursor > 0 and exit_model is not None:
        removed = removals(session, registry, user, exit_model, cursor, new_cursor,
                           also=pull_only)
    return PullResult(changes, new_cursor, more, snapshot=snapshot, removed=removed)


def _page_changes(session, user, page: list, cursor: int) -> list[tuple[int, dict]]:
    """The page's changes: each walk's rows of the page loaded by walking it again over
    the page's range, then kept and disclosed per spec (spec.pull_page)."""
    by_walk: dict[tuple[str, int], tuple[EntitySpec, dict[str, int]]] = {}
    loaded: dict[str, tuple[EntitySpec, list[Any]]] = {}
    for seq, spec, item, number in page:
        if number < 0:
            loaded.setdefault(spec.name, (spec, []))[1].append(item)
        else:
            by_walk.setdefault((spec.name, number), (spec, {}))[1][item] = seq
    walks = {spec.name: spec.walks(user) for _, (spec, _) in by_walk.items()}
    for (name, number), (spec, seqs) in by_walk.items():
        walk = walks[name][number]
        table = spec.model.__table__
        # Plain rows (attributes by column name), not ORM objects: read once and dumped,
        # they need no identity map, and building them costs a fraction.
        query = sa.select(*[column for column in table.columns
                            if column.key not in spec.unread])
        if walk.id.table is not table:
            query = query.select_from(table.join(walk.id.table, walk.id == table.c.id))
        query = query.where(*([walk.where] if walk.where is not None else []),
                            walk.seq > cursor, walk.seq <= max(seqs.values()))
        if walk.filter is not None:
            query = query.where(walk.filter)
        rows = loaded.setdefault(spec.name, (spec, []))[1]
        # On the connection: plain rows need none of the session's ORM execution (the session
        # flushed at the walks above).
        for row in session.connection().execute(query).all():
            # Not as walked (changed again by a commit since: it comes at its new
            # sequence, above this pull's high-water mark), or not held by phones.
            if seqs.get(row.id) != row.change_seq or (walk.keep and not walk.keep(row)):
                continue
            rows.append(row)
    out = []
    for spec, rows in loaded.values():
        disclose = None
        if spec.pull_page is not None:
            rows, disclose = spec.pull_page(session, user, rows)
        elif spec.disclose is not None:
            def disclose(row, change, spec=spec):
                return spec.disclose(user, row, change)
        out.extend((row.change_seq, _change(spec, row, disclose)) for row in rows)
    return out


def phone_readable(spec: EntitySpec, user):
    """The WHERE clause of the rows of `spec` that the user's phone holds."""
    readable = spec.readable(user)
    if spec.on_phones is not None:
        readable = sa.and_(readable, spec.on_phones(user))
    return readable


# The roles that read every referral, whose phones are told of an exit by their role.
ROLE_SCOPES = ("ltsa", "admin")


def exit_scopes(user) -> list[str]:
    """The scopes whose exits concern a user: their desa, their organisation, their
    community group, and for the LTSA desk and admins their role."""
    scopes = [f"role:{user.role}"] if user.role in ROLE_SCOPES else []
    if user.desa_code:
        scopes.append(f"desa:{user.desa_code}")
    if user.organisation_id is not None:
        scopes.append(f"organisation:{user.organisation_id}")
    if user.community_group_id is not None:
        scopes.append(f"group:{user.community_group_id}")
    return scopes


def removals(session, registry: dict[str, EntitySpec], user, exit_model, after: int,
             upto: int, also: tuple[EntitySpec, ...] = ()) -> list[dict]:
    """The records that left the user's scope in (after, upto], or every phone, and that
    the user's phone can no longer hold: the phone drops them, told why by the reason of
    the first such exit (docs/sync-protocol.md §12)."""
    scopes = exit_scopes(user)
    if not scopes:
        return []
    exits = session.execute(
        sa.select(exit_model.entity, exit_model.record_id, exit_model.reason)
        .where(exit_model.change_seq > after, exit_model.change_seq <= upto,
               exit_model.scope.in_(scopes))
        .order_by(exit_model.change_seq, exit_model.id)
    ).all()
    by_table = {spec.model.__tablename__: spec for spec in (*registry.values(), *also)}
    # Per table, each record once (dicts keep the order of the first exit).
    wanted: dict[str, dict[str, str]] = {}
    for table, record_id, reason in exits:
        if table in by_table:
            wanted.setdefault(table, {}).setdefault(record_id, reason)
    removed = []
    for table, reasons in wanted.items():
        spec = by_table[table]
        ids = list(reasons)
        still: set[str] = set()
        for start in range(0, len(ids), 500):
            still.update(session.execute(
                sa.select(spec.model.id).where(spec.model.id.in_(ids[start:start + 500]),
                                               phone_readable(spec, user))
            ).scalars())
        removed.extend({"entity": spec.name, "id": record_id, "reason": reason}
                       for record_id, reason in reasons.items() if record_id not in still)
    return removed


def _change(spec: EntitySpec, row, disclose) -> dict:
    """A pulled change. A synced record is built in its wire form straight from the row's
    parts (no merge record first, a thousand times a page) and has no `seq`: the page's
    cursor is what the phone keeps (docs/sync-protocol.md §10); wire_changes expands it
    again only for the echo rule. A pulled-only record goes as it is, with its `seq`."""
    if spec.kind.get("pull_only"):
        change = {"entity": spec.name, "id": row.id, "seq": row.change_seq,
                  "record": spec.dump(row)}
    else:
        meta = row.sync_meta or {}
        record = wire.compact_parts(
            spec.dump(row), row.field_clocks or {}, meta.get("_authors") or {},
            meta.get("_bases"), {"_deleted": row.deleted_hlc,
                                 "_deleted_by": meta.get("_deleted_by"),
                                 "_deleted_base": meta.get("_deleted_base")})
        change = {"entity": spec.name, "id": row.id, "record": record}
        if spec.derived:
            change["derived"] = spec.derived(row)
    return disclose(row, change) if disclose else change


def server_clock(now_ms: int | None = None) -> dict:
    """The server's time, for the client to notice a wrong phone date itself."""
    ms = hlc_mod.wall_clock_ms() if now_ms is None else now_ms
    return {"server_time_ms": ms,
            "server_time": dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()}


def sync(session, registry, user, request: dict, *, client_model, conflict_model,
         conflict_spec: EntitySpec | None = None, pull_only: tuple[EntitySpec, ...] = (),
         now_ms: int | None = None, exit_model=None) -> dict:
    """One round trip: push the client's mutations, then pull, in the caller's transaction."""
    mutations = validate_batch(registry, request["mutations"])
    if mutations or session.get(client_model, request["client_id"]) is None:
        # Writers queue here, so sequences commit in order and a client row is made once.
        sequence.lock_writes(session)
    client = get_client(session, client_model, request["client_id"], user)
    bind_node(client, mutations, SERVER_NODE)
    client.last_seen_at = dt.datetime.now(dt.UTC)
    response: dict = {"protocol": PROTOCOL_VERSION}
    key = scope_key(user)
    # The new scope is kept only once the client starts over from cursor 0, so a reset
    # answer that is lost is given again.
    scope_changed = client.scope_key != key and request["cursor"] > 0
    if request["cursor"] == 0:
        client.scope_key = key
    retried = {r["mutation_id"]: r for r in (client.last_refused or [])}
    reclamped = {c["mutation_id"]: c["hlc"] for c in (client.last_clamped or [])}
    result = push(session, registry, client, user, mutations, conflict_model, now_ms=now_ms,
                  device_time_ms=request.get("device_time_ms"))
    # A retried batch gets its clamps again, as its refusals: the phone must adopt them.
    clamped = {mid: reclamped[mid] for mid in result.skipped if mid in reclamped}
    if result.clamped:
        kept = [c for c in (client.last_clamped or []) if c["mutation_id"] not in result.clamped]
        client.last_clamped = (kept + [{"mutation_id": k, "hlc": v}
                                       for k, v in result.clamped.items()])[-KEPT_REFUSALS:]
    clamped.update(result.clamped)
    # A retried batch gets its refusals again: a lost answer must not lose them.
    again = [retried[mid] for mid in result.skipped if mid in retried]
    if result.refused:
        # Kept across batches (the newest few hundred): answers lost one after another
        # must not lose a refusal either.
        kept = [r for r in (client.last_refused or [])
                if r["mutation_id"] not in {n["mutation_id"] for n in result.refused}]
        client.last_refused = (kept + result.refused)[-KEPT_REFUSALS:]
    result.refused = again + result.refused
    response.update({
        "last_mutation_id": result.last_mutation_id,
        "applied": result.applied,
        "skipped": result.skipped,
        "refused": result.refused,
        "clamped": [{"mutation_id": k, "hlc": v} for k, v in clamped.items()],
        "clock": server_clock(now_ms),
    })
    if clamped:
        response["clock"]["warning"] = {
            "id": "Tanggal di HP ini salah. Perbaiki tanggal dan jam di pengaturan HP.",
            "en": "The phone's date is wrong. Fix the date and time in the phone's settings.",
        }
    session.flush()
    cursor = request["cursor"]
    if scope_changed:
        page = PullResult([], 0, False, reset="scope_changed")
    else:
        page = pull(session, registry, user, cursor, request["pull_limit"], conflict_spec,
                    pull_only, snapshot=request.get("snapshot"), exit_model=exit_model)
    handled = set(result.applied) | {mid for mid in result.skipped if mid not in retried}
    own = wire.own_writes(request["mutations"], handled, clamped,
                          {name: spec.kind for name, spec in registry.items()})
    # A write applied now under a cursor has its exit, if any, after the cursor: `removed`
    # names it. A full download names none, and a retried write was applied under the
    # scope of its first try: those are looked up.
    looked_up = own if cursor == 0 else wire.own_writes(
        request["mutations"], handled & set(result.skipped), clamped, {})
    if looked_up and not page.reset and exit_model is not None:
        listed = {(r["entity"], r["id"]) for r in page.removed}
        page.removed += not_held(session, registry, user, exit_model,
                                 {key for key in looked_up if key[0] in registry} - listed)
    response.update({"changes": wire_changes(page.changes, own, str(user.id)),
                     "cursor": page.cursor, "more": page.more,
                     "reset": page.reset, "snapshot": page.snapshot, "removed": page.removed})
    return response


def not_held(session, registry: dict[str, EntitySpec], user, exit_model,
             keys: set[tuple[str, str]]) -> list[dict]:
    """Of the records a phone wrote in this request, those its phone may not hold. The phone
    holds what it wrote once acknowledged (§13), also when no exit after its cursor says
    it left: a write applied under a scope the user no longer has (the answer lost, the
    scope changed back and forth), a full download (which lists no removals). Each with
    the reason of its first exit, else `scope_left`."""
    out = []
    for name in sorted({entity for entity, _ in keys}):
        spec = registry[name]
        ids = sorted(record_id for entity, record_id in keys if entity == name)
        held: set[str] = set()
        for start in range(0, len(ids), 500):
            held.update(session.execute(
                sa.select(spec.model.id).where(spec.model.id.in_(ids[start:start + 500]),
                                               phone_readable(spec, user))).scalars())
        gone = [record_id for record_id in ids if record_id not in held]
        if not gone:
            continue
        reasons: dict[str, str] = {}
        for record_id, reason in session.execute(
                sa.select(exit_model.record_id, exit_model.reason)
                .where(exit_model.entity == spec.model.__tablename__,
                       exit_model.record_id.in_(gone))
                .order_by(exit_model.change_seq, exit_model.id)):
            reasons.setdefault(record_id, reason)
        out.extend({"entity": name, "id": record_id,
                    "reason": reasons.get(record_id, "scope_left")} for record_id in gone)
    return out


def wire_changes(changes: list[dict], own: dict, author: str) -> list[dict]:
    """Pulled changes in their wire form (protocol 2, docs/sync-protocol.md §10): a synced
    record is compact already (_change); the requesting phone's own writes are left out
    (the echo rule); a pulled-only record (conflicts, possible duplicates) goes as it is,
    with its `seq`."""
    out = []
    for change in changes:
        if "seq" in change or (change["entity"], change["id"]) not in own:
            out.append(change)
            continue
        full = wire.expand(change["record"], change["id"])
        shaped = wire.elide_echo(change, full, own, author)
        if shaped is not None:
            out.append(shaped)
    return out


def apply_server_mutation(session, spec: EntitySpec, user, record_id: str, fields: dict,
                          conflict_model) -> int:
    """Apply an edit made on the server through the same merge as a pushed mutation.

    Its HLC is the server's clock, after every clock the record holds, and its base is the
    record as stored when the edit is applied (under the write lock): the user chose this
    value looking at that record, so it wins and overwrites knowingly. Raises Refusal like
    a push would.
    """
    row = session.get(spec.model, record_id)
    clocks = dict(row.field_clocks or {}) if row is not None else {}
    stamp = hlc_mod.now(SERVER_NODE, last=max(clocks.values(), default=None))
    mutation = {"entity": spec.name, "id": record_id, "op": "upsert", "fields": fields,
                "hlc": stamp, "node": SERVER_NODE, "client_id": SERVER_NODE, "mutation_id": 0,
                "author": str(user.id), "base": {name: clocks.get(name) for name in fields}}
    return apply_one(session, spec, user, mutation, conflict_model)
