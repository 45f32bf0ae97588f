"""The wire format of POST /api/sync: envelope schemas, limits and the protocol version."""

import math
import re

from marshmallow import EXCLUDE
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from . import hlc

# 2: compact records and the echo rule (docs/sync-protocol.md §10). A request of an older
# version (or naming none) is answered 426 `client_outdated`: its app would misread the
# answer, so it is told to update rather than merge wrongly.
PROTOCOL_VERSION = 2


def outdated(body: dict) -> bool:
    """True for the request of an app older than this protocol: no `protocol`, or a lower
    integer one."""
    version = body.get("protocol")
    if version is None:
        return True
    return isinstance(version, int) and not isinstance(version, bool) and version < PROTOCOL_VERSION

# Limits (docs/sync-protocol.md): a normal day's work fits in one request.
MAX_MUTATIONS = 2000
MAX_FIELDS_PER_MUTATION = 40
MAX_BODY_BYTES = 8 * 1024 * 1024  # after gzip decompression
DEFAULT_PULL_LIMIT = 1000
MAX_PULL_LIMIT = 5000
# An HLC further ahead of the server clock than this cannot win by it.
MAX_CLOCK_SKEW_MS = hlc.MAX_SKEW_MS
# Bounds of device_time_ms and offset_ms: what an HLC's wall time can hold.
MAX_TIME_MS = hlc.MAX_WALL

# Values a JSON body may carry (every body, sync and REST: docs/sync-protocol.md §20):
# PostgreSQL stores no NUL in text, UTF-8 has no lone surrogate, BIGINT holds 64 bits.
MAX_JSON_DEPTH = 16
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
VALUE_PROBLEMS = {
    "nul": ("Teks tidak boleh berisi karakter NUL (\\u0000).",
            "Text must not contain a NUL character (\\u0000)."),
    "surrogate": ("Teks berisi karakter yang tidak valid (surrogate Unicode tanpa pasangan).",
                  "Text contains an invalid character (an unpaired Unicode surrogate)."),
    "integer": ("Bilangan bulat harus antara -2^63 dan 2^63-1.",
                "Integers must be between -2^63 and 2^63-1."),
    "number": ("Angka harus terhingga.", "Numbers must be finite."),
    "depth": (f"Bersarang terlalu dalam: paling banyak {MAX_JSON_DEPTH} tingkat.",
              f"Nested too deeply: at most {MAX_JSON_DEPTH} levels."),
}


def bad_values(data, max_depth: int = MAX_JSON_DEPTH, limit: int = 100) -> list[tuple]:
    """Where a parsed JSON body holds a value no field may take: [(path, problem)], the
    path a tuple of keys and list indexes, the problem a key of VALUE_PROBLEMS (a key that
    is itself bad is named by its own path). Empty when the body is fine."""
    problems: list[tuple] = []
    stack = [((), data, 1)]
    while stack and len(problems) < limit:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            found = _BAD_CHARS.search(value)
            if found:
                problems.append((path, "nul" if found.group() == "\x00" else "surrogate"))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                problems.append((path, "integer"))
        elif isinstance(value, float):
            if not math.isfinite(value):
                problems.append((path, "number"))
        elif isinstance(value, dict | list):
            if depth > max_depth:
                problems.append((path, "depth"))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in reversed(list(items)):
                stack.append((path + (key,), key if _bad_key(key) else item, depth + 1))
    return problems


def _bad_key(key) -> bool:
    return isinstance(key, str) and _BAD_CHARS.search(key) is not None


def nested_messages(problems: list[tuple], message) -> dict:
    """The problems as marshmallow-style nested messages: {"a": {"b": [message(problem)]}}."""
    out: dict = {}
    for path, problem in problems:
        node = out
        # A bad key is named escaped: the answer itself must be valid UTF-8 JSON.
        keys = [_BAD_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", k) if isinstance(k, str)
                else k for k in path]
        keys = keys or ["_schema"]
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            entry = node.setdefault(keys[-1], [])
            if isinstance(entry, list):
                entry.append(message(problem))
    return out


HLC_PATTERN = rf"^\d{{15}}-\d{{5}}-[A-Za-z0-9_.:-]{{1,{hlc.MAX_NODE_LEN}}}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


# How many conflict entries one mutation may settle (a record has few fields).
MAX_RESOLVES = 40


class MutationSchema(Schema):
    """One change made on a device, in the order the device made it."""

    class Meta:
        unknown = RAISE

    mutation_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    entity = fields.String(required=True)
    id = fields.String(required=True, validate=validate.Regexp(UUID_PATTERN))
    op = fields.String(required=True, validate=validate.OneOf(["insert", "upsert", "delete"]))
    fields_ = fields.Dict(data_key="fields", attribute="fields", keys=fields.String(),
                          load_default=dict,
                          validate=validate.Length(
                              max=MAX_FIELDS_PER_MUTATION,
                              error=f"At most {MAX_FIELDS_PER_MUTATION} fields per mutation."))
    hlc = fields.String(required=True, validate=validate.Regexp(HLC_PATTERN))
    base = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                       load_default=None, allow_none=True)
    # What the device subtracted from its clock to stamp hlc: device minus server time, in
    # ms, as estimated from an earlier answer (§15). Present: hlc is in server time.
    offset_ms = fields.Integer(strict=True, load_default=None, allow_none=True,
                               validate=validate.Range(min=-MAX_TIME_MS, max=MAX_TIME_MS))
    # Conflict entries of this record's fields that this edit settles: the user chose a
    # value offline (§18). Marked resolved when the mutation is applied.
    resolves = fields.List(fields.String(validate=validate.Regexp(UUID_PATTERN)),
                           load_default=None, allow_none=True,
                           validate=validate.Length(max=MAX_RESOLVES))


class SyncRequestSchema(Schema):
    """One request pushes the outbox and pulls what changed since the cursor."""

    class Meta:
        unknown = RAISE

    protocol = fields.Integer(required=True, strict=True,
                              validate=validate.Equal(PROTOCOL_VERSION))
    client_id = fields.String(required=True, validate=validate.Regexp(UUID_PATTERN))
    cursor = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    mutations = fields.List(fields.Nested(MutationSchema), load_default=list,
                            validate=validate.Length(max=MAX_MUTATIONS))
    pull_limit = fields.Integer(load_default=DEFAULT_PULL_LIMIT, strict=True,
                                validate=validate.Range(min=1, max=MAX_PULL_LIMIT))
    # The device's clock (ms since the epoch) when it sent the request (§15).
    device_time_ms = fields.Integer(strict=True, load_default=None, allow_none=True,
                                    validate=validate.Range(min=0, max=MAX_TIME_MS))
    # The `snapshot` of the previous answer, while a full download goes on (§12).
    snapshot = fields.Integer(load_default=None, allow_none=True, strict=True,
                              validate=validate.Range(min=0))

    @validates_schema
    def _increasing_ids(self, data, **kwargs):
        ids = [m["mutation_id"] for m in data.get("mutations", [])]
        if ids != sorted(set(ids)):
            raise ValidationError("mutation_id must increase within a batch.", "mutations")


class ResolveSchema(Schema):
    """Choosing a value for a conflict: it becomes a new mutation."""

    class Meta:
        unknown = EXCLUDE

    value = fields.Raw(required=True, allow_none=True)


sync_request_schema = SyncRequestSchema()


class MessagePairSchema(Schema):
    id = fields.String(metadata={"description": "Bahasa Indonesia"})
    en = fields.String(metadata={"description": "English"})


class RefusedSchema(Schema):
    """A mutation that was handled but not applied; the client keeps it for the user."""

    mutation_id = fields.Integer()
    reason = fields.String()
    message = fields.Nested(MessagePairSchema)
    fields_ = fields.Dict(data_key="fields")
    error_id = fields.String(metadata={
        "description": "With server_error: the id of the fault in the server log."})


class ClampedSchema(Schema):
    mutation_id = fields.Integer()
    hlc = fields.String(metadata={"description": "The HLC the server stored instead."})


class ClockSchema(Schema):
    server_time_ms = fields.Integer()
    server_time = fields.String()
    warning = fields.Nested(MessagePairSchema, metadata={
        "description": "Present when the phone's date is wrong."})


class ChangeSchema(Schema):
    entity = fields.String()
    id = fields.String()
    seq = fields.Integer(metadata={
        "description": "Pulled-only records (conflicts, possible_duplicates) only."})
    record = fields.Dict(metadata={
        "description": "Synced fields plus merge bookkeeping, in the compact form "
                       "(_clock, _author, and _clocks/_authors of the fields that differ)."})
    derived = fields.Dict(metadata={"description": "Fields the server sets (status, ...)."})
    partial = fields.Boolean(metadata={
        "description": "The record leaves out the requesting phone's own writes: keep the "
                       "phone's copy of every field it does not carry."})


class RemovedSchema(Schema):
    entity = fields.String()
    id = fields.String()
    reason = fields.String(metadata={"description": "scope_left"})


class SyncResponseSchema(Schema):
    protocol = fields.Integer()
    last_mutation_id = fields.Integer()
    applied = fields.List(fields.Integer())
    skipped = fields.List(fields.Integer())
    refused = fields.List(fields.Nested(RefusedSchema))
    clamped = fields.List(fields.Nested(ClampedSchema))
    clock = fields.Nested(ClockSchema)
    changes = fields.List(fields.Nested(ChangeSchema))
    cursor = fields.Integer()
    more = fields.Boolean()
    reset = fields.String(allow_none=True, metadata={
        "description": "cursor_expired, cursor_ahead or scope_changed: drop local data, "
                       "pull again from cursor 0."})
    snapshot = fields.Integer(allow_none=True, metadata={
        "description": "While a full download has more pages: send it back with the "
                       "next request."})
    removed = fields.List(fields.Nested(RemovedSchema), metadata={
        "description": "Records that left the user's scope: drop them from the phone."})
