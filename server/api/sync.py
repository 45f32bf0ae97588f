"""POST /api/sync: the HTTP side of the sync protocol (docs/sync-protocol.md)."""

import gzip
import json
import time
import zlib

from flask import current_app
from flask import g
from flask import request
from marshmallow import ValidationError

from sync import engine
from sync.protocol import MAX_BODY_BYTES
from sync.protocol import SyncRequestSchema
from sync.protocol import SyncResponseSchema
from sync.protocol import outdated
from sync.protocol import sync_request_schema

from .. import audit
from ..auth import locks_itself
from ..auth import login_required
from ..errors import ApiError
from ..extensions import db
from ..jsonio import dumps_bytes
from ..models import ConflictEntry
from ..models import SyncClient
from ..models import SyncExit
from ..sync_registry import build_registry
from ..sync_registry import conflict_spec
from ..sync_registry import pull_only_specs
from ..validation import Bilingual
from ..validation import bilingual_fields
from . import api_bp
from .openapi import doc
from .util import too_deep
from .util import value_problems

# Responses smaller than this are not worth compressing.
GZIP_MIN_BYTES = 1024


def sync_registry():
    # Built once per app: the specs hold schema instances, reused by every request.
    ext = current_app.extensions
    if "jangkau_sync" not in ext:
        registry = build_registry()
        ext["jangkau_sync"] = (registry, conflict_spec(registry))
    return ext["jangkau_sync"]


def _request_json() -> dict:
    """The body as JSON; a gzip body is inflated up to MAX_BODY_BYTES, never further."""
    raw = request.get_data(cache=False)
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error:
            raise ApiError(400, "Isi gzip rusak.", "The gzip body is corrupt.") from None
        if len(raw) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise ApiError(413, f"Data terlalu besar: maksimal {MAX_BODY_BYTES} byte "
                                "setelah dibuka.",
                           f"Too large: at most {MAX_BODY_BYTES} bytes once decompressed.")
        # A stream cut short (no trailer: the CRC and length were never checked) or
        # followed by anything is not the body that was sent.
        if not inflater.eof or inflater.unused_data:
            raise ApiError(400, "Isi gzip terpotong atau rusak.",
                           "The gzip body is truncated or corrupt.")
    if not request.mimetype == "application/json":
        raise ApiError(415)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Isi permintaan bukan JSON yang valid.",
                       "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Isi permintaan harus berupa objek JSON.",
                       "The body must be a JSON object.")
    return data


@api_bp.post("/sync")
@doc(body=SyncRequestSchema, response=SyncResponseSchema, errors=(413, 415, 426))
@login_required()
@locks_itself
def sync_round_trip():
    """Push the outbox and pull the changes since the cursor, in one transaction."""
    started = time.perf_counter()
    raw = _request_json()
    if outdated(raw):
        # Nothing is read of an older app's request: it would misread the answer.
        raise ApiError("client_outdated")
    problems = value_problems(raw)
    if problems:
        # Named by mutation id, like any other invalid mutation: the app sets it aside.
        raise _by_mutation_id(ValidationError(problems), raw)
    try:
        data = sync_request_schema.load(raw)
    except ValidationError as e:
        raise _by_mutation_id(e, raw) from None
    registry, conflicts = sync_registry()
    try:
        response = engine.sync(db.session, registry, g.user, data, client_model=SyncClient,
                               conflict_model=ConflictEntry, conflict_spec=conflicts,
                               pull_only=pull_only_specs(), exit_model=SyncExit)
    except engine.BatchInvalid as e:
        db.session.rollback()
        raise _invalid_batch(e.errors) from None
    except engine.NodeMismatch as e:
        db.session.rollback()
        raise _invalid_batch({str(mid): {"hlc": [Bilingual(
            "Perubahan ini dicap oleh perangkat lain; keluar lalu masuk lagi.",
            "This change was stamped by another device; log out and in again.")]}
            for mid in e.mutation_ids}) from None
    except engine.ClientMismatch:
        db.session.rollback()
        raise ApiError("client_mismatch", "client_id ini milik akun lain; keluar lalu masuk lagi.",
                       "This client_id belongs to another account; log out and in again."
                       ) from None
    for refusal in response["refused"]:
        if "fields" in refusal:
            refusal["fields"] = bilingual_fields(refusal["fields"])
    _audit(response, data["mutations"])
    db.session.commit()
    body, status, headers = _compressed(response)
    # The view's own time (parse, engine, audit, commit, encode); bench/sync_bench.py reads it.
    headers["Server-Timing"] = f"sync;dur={(time.perf_counter() - started) * 1000:.1f}"
    return body, status, headers


def _invalid_batch(errors: dict) -> ApiError:
    return ApiError("invalid_batch",
                    "Sebagian perubahan tidak valid; tidak ada yang disimpan. "
                    "Pisahkan perubahan yang disebut lalu kirim sisanya.",
                    "Some changes are invalid; nothing was saved. Set the named "
                    "mutations aside and send the rest.",
                    fields=bilingual_fields({"mutations": errors}))


def _by_mutation_id(error: ValidationError, raw: dict) -> Exception:
    """Envelope errors of single mutations, keyed by their mutation id as the client knows
    them (marshmallow keys them by position in the list)."""
    messages = error.messages
    per_mutation = messages.get("mutations") if isinstance(messages, dict) else None
    mutations = raw.get("mutations")
    if not isinstance(per_mutation, dict) or not isinstance(mutations, list) or len(messages) > 1:
        return error
    keyed = {}
    for index, problem in per_mutation.items():
        if not isinstance(index, int) or not isinstance(mutations[index], dict):
            return error
        mid = mutations[index].get("mutation_id")
        if not isinstance(mid, int) or isinstance(mid, bool) or str(mid) in keyed:
            return error
        keyed[str(mid)] = problem
    return _invalid_batch(keyed)


def _audit(response: dict, mutations: list[dict]) -> None:
    """One entry per round trip: the ids of every record pulled and every mutation applied,
    by entity (the device is in the entry), so a breach report can name what one phone
    holds. A round trip that moved nothing writes nothing."""
    pulled: dict[str, list[str]] = {}
    for change in response["changes"]:
        pulled.setdefault(change["entity"], []).append(change["id"])
    applied = set(response["applied"])
    pushed: dict[str, dict[str, None]] = {}  # ids in order, each once
    for m in mutations:
        if m["mutation_id"] in applied:
            pushed.setdefault(m["entity"], {})[m["id"]] = None
    if pulled or pushed:
        audit.record("sync", "sync", None, {
            "pulled": pulled, "pushed": {entity: list(ids) for entity, ids in pushed.items()},
            "sent": len(mutations), "applied": len(applied),
            "refused": len(response["refused"])})


def _compressed(payload: dict):
    body = dumps_bytes(payload)
    headers = {"Content-Type": "application/json", "Vary": "Accept-Encoding"}
    if len(body) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return body, 200, headers
