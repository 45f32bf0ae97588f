"""The conflict log: values that lost a merge, readable and resolvable by the record's readers."""

import sqlalchemy as sa
from flask import g

from sync import engine
from sync.protocol import ResolveSchema

from .. import audit
from ..auth import login_required
from ..domain import disclosure
from ..errors import ApiError
from ..extensions import db
from ..models import ConflictEntry
from ..models import utcnow
from ..sync_registry import conflict_dump
from ..sync_registry import disclosed_conflict
from ..validation import bilingual_fields
from . import api_bp
from .openapi import doc
from .sync import sync_registry
from .util import json_body
from .util import paginate

resolve_schema = ResolveSchema()


def _readable_conflict(conflict_id: str) -> ConflictEntry:
    registry, spec = sync_registry()
    row = db.session.execute(
        sa.select(ConflictEntry).where(ConflictEntry.id == conflict_id, spec.readable(g.user))
    ).scalar_one_or_none()
    if row is None:
        raise ApiError(404, "Data tidak ditemukan.", "Record not found.")
    return row


def _dump(conflict: ConflictEntry) -> dict:
    return dict(disclosed_conflict(g.user, conflict, conflict_dump(conflict)), id=conflict.id)


def _chosen(conflict: ConflictEntry, value):
    """A masked NIK chosen from the review screen names one of the two values shown."""
    if not disclosure.is_masked_nik(value):
        return value
    for stored in (conflict.winning_value, conflict.losing_value):
        if disclosure.mask_nik(stored) == value.strip():
            return stored
    return value


@api_bp.get("/conflicts")
@doc(paged=True)
@login_required()
def list_conflicts():
    """Conflicts of the records the user may read, newest first; ?open=1 for unresolved."""
    from flask import request

    registry, spec = sync_registry()
    select = sa.select(ConflictEntry).where(spec.readable(g.user))
    if request.args.get("open") in ("1", "true"):
        select = select.where(ConflictEntry.resolved_at.is_(None))
    if request.args.get("record_id"):
        select = select.where(ConflictEntry.record_id == request.args["record_id"])
    page = paginate(select.order_by(ConflictEntry.created_at.desc(), ConflictEntry.id))
    # The conflict log holds old and new values (a NIK, a phone number): a read of it is
    # a read of those records.
    records: dict[str, list[str]] = {}
    for c in page["items"]:
        if c.record_id not in records.setdefault(c.entity, []):
            records[c.entity].append(c.record_id)
    audit.record("read", "conflict", None, {"ids": [c.id for c in page["items"]],
                                            "records": records})
    page["items"] = [_dump(c) for c in page["items"]]
    db.session.commit()
    return page


@api_bp.post("/conflicts/<conflict_id>/resolve")
@doc(body=ResolveSchema, errors=(409,))
@login_required()
def resolve_conflict(conflict_id):
    """Keep a value ("pakai nilai ini"): it is written as a new mutation of the server."""
    conflict = _readable_conflict(conflict_id)
    data = resolve_schema.load(json_body())
    registry, _ = sync_registry()
    spec = registry.get(conflict.entity)
    if spec is None or conflict.field is None:
        raise ApiError(409, "Konflik ini tidak dapat diselesaikan dengan memilih nilai.",
                       "This conflict cannot be resolved by choosing a value.")
    try:
        engine.apply_server_mutation(db.session, spec, g.user, conflict.record_id,
                                     {conflict.field: _chosen(conflict, data["value"])},
                                     ConflictEntry)
    except engine.Refusal as r:
        fields = bilingual_fields({"value": r.fields}) if r.fields else None
        raise ApiError(r.reason, r.message_id, r.message_en, fields=fields) from None
    conflict.resolved_at = utcnow()
    conflict.resolved_by_id = g.user.id
    audit.record("update", conflict.entity, conflict.record_id,
                 {"fields": [conflict.field], "resolved_conflict": conflict.id})
    db.session.commit()
    return _dump(conflict)
