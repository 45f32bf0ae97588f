"""Small helpers shared by the API views."""

import sqlalchemy as sa
from flask import current_app
from flask import request

from sync import engine
from sync.protocol import VALUE_PROBLEMS
from sync.protocol import bad_values
from sync.protocol import nested_messages

from .. import scopes
from ..errors import ApiError
from ..extensions import db
from ..validation import Bilingual
from ..validation import bilingual_fields

PAGING_ARGS = ("page", "per_page")


def json_body() -> dict:
    """The request's JSON object, or a bilingual 400/415 naming what is wrong."""
    if not request.is_json:
        raise ApiError(415)
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise too_deep() from None
    if data is None:
        raise ApiError(400, "Isi permintaan bukan JSON yang valid.", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "Isi permintaan harus berupa objek JSON.",
                       "The body must be a JSON object.")
    problems = value_problems(data)
    if problems:
        raise ApiError(422, fields=bilingual_fields(problems), code="invalid")
    return data


def value_problems(data) -> dict | None:
    """The values of a JSON body that no field may take (sync.protocol.bad_values), as
    nested bilingual messages by field; None when there are none."""
    problems = bad_values(data)
    if not problems:
        return None
    return nested_messages(problems, lambda problem: Bilingual(*VALUE_PROBLEMS[problem]))


def check_request_text() -> None:
    """Query strings and path parameters hold no text a field may not take (a NUL, which
    PostgreSQL refuses): a 422 naming the parameter, before any view reads it."""
    given = [*request.args.items(multi=True), *(request.view_args or {}).items()]
    problems = {name: [Bilingual(*VALUE_PROBLEMS[problem]) for _, problem in bad_values(value)]
                for name, value in given if isinstance(value, str) and bad_values(value)}
    if problems:
        raise ApiError(422, fields=bilingual_fields(problems), code="invalid")


def too_deep() -> ApiError:
    """A body nested beyond what the JSON parser follows: it cannot name a field."""
    return ApiError(400, "Isi permintaan bersarang terlalu dalam.",
                    "The body is nested too deeply.", code="bad_request")


def paging() -> tuple[int, int]:
    """The page (1-based) and page size from the query string, bounded."""
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("per_page", 50))
    except ValueError:
        raise ApiError(400, "page dan per_page harus bilangan bulat.",
                       "page and per_page must be integers.") from None
    size_max = current_app.config["PAGE_SIZE_MAX"]
    if page < 1 or size < 1 or size > size_max:
        raise ApiError(400, f"page minimal 1; per_page antara 1 dan {size_max}.",
                       f"page must be at least 1; per_page between 1 and {size_max}.")
    return page, size


def query_args(schema) -> dict:
    """The query string validated by `schema`; page and per_page are left to paging()."""
    return schema.load({k: v for k, v in request.args.items() if k not in PAGING_ARGS})


def paginate(select) -> dict:
    """One page of the rows of `select`: {"items", "page", "per_page", "total"}."""
    page, per_page = paging()
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(select.order_by(None).subquery())
    ).scalar_one()
    items = db.session.execute(select.limit(per_page).offset((page - 1) * per_page)).scalars()
    return {"items": items.all(), "page": page, "per_page": per_page, "total": total}


def replayed(user, model, record_id: str | None):
    """The record a repeated create made before (same id, same author), or None.

    Phones choose record ids; a create sent again after a lost answer gets the stored
    record back instead of a copy. An id that belongs to someone else's record is a 409.
    """
    if record_id is None or db.session.get(model, record_id) is None:
        return None
    record = db.session.execute(
        sa.select(model).where(model.id == record_id, model.created_by_id == user.id,
                               scopes.readable(user, model))
    ).scalar_one_or_none()
    if record is None:
        raise ApiError(409, "ID ini sudah dipakai data lain.",
                       "This id is already used by another record.")
    return record


def etag(row) -> dict:
    """Headers naming the version of a record a client is shown: its change sequence."""
    return {"ETag": f'"{row.change_seq}"'}


def _seen_version() -> int | None:
    """The version named by If-Match (the record as the user saw it), if any."""
    raw = request.headers.get("If-Match", "").strip().strip('"')
    return int(raw) if raw.isdigit() else None


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def stamp_write(row, names, user, stamp: str | None = None) -> None:
    """Book an API write as a mutation of the server's node (see sync.engine).

    With If-Match naming an older version than the stored one, the user did not see
    what changed since (a phone's push, say): each value this write replaces goes to the
    conflict log, as the merge does for a concurrent edit, instead of vanishing.
    """
    seen = _seen_version()
    stale = seen is not None and row.change_seq is not None and seen != row.change_seq
    before = dict(row.field_clocks or {})
    authors = dict((row.sync_meta or {}).get("_authors") or {})
    stamp = engine.stamp_server_write(row, names, str(user.id), stamp=stamp)
    if not stale:
        return
    from ..models import ConflictEntry
    from ..sync_registry import REGISTRY_ENTITY_OF

    # Every replaced value is read before any is logged: logging queries, and a query
    # flushes the row, which forgets the values it replaced.
    state = sa.inspect(row)
    entries = []
    for name in names:
        history = state.attrs[name].history if name in state.attrs else None
        if history is None or not history.deleted or name not in before:
            continue
        old, new = _jsonable(history.deleted[0]), _jsonable(getattr(row, name))
        if old == new:
            continue
        entries.append({
            "entity": REGISTRY_ENTITY_OF[type(row)], "id": row.id, "field": name,
            "reason": "concurrent_edit", "winning_value": new, "winning_hlc": stamp,
            "winning_author": str(user.id), "losing_value": old, "losing_hlc": before[name],
            "losing_author": authors.get(name)})
    engine.log_conflicts(db.session, ConflictEntry, entries)
