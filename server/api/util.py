"""Small helpers shared by the API views."""

import sqlalchemy as sa
from flask import current_app
from flask import request

from .. import scopes
from ..errors import ApiError
from ..extensions import db

PAGING_ARGS = ("page", "per_page")


def json_body() -> dict:
    """The request's JSON object, or a bilingual 400/415 naming what is wrong."""
    if not request.is_json:
        raise ApiError(415)
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "Isi permintaan bukan JSON yang valid.", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "Isi permintaan harus berupa objek JSON.",
                       "The body must be a JSON object.")
    return data


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
        raise ApiError("id_taken")
    return record


def etag(row) -> dict:
    """Headers naming the version of a record a client is shown: its change sequence."""
    return {"ETag": f'"{row.change_seq}"'}


def seen_version() -> int | None:
    """The version named by If-Match (the record as the user saw it), if any: a write
    that replaces values the user did not see logs them (server.sync_registry.write)."""
    raw = request.headers.get("If-Match", "").strip().strip('"')
    return int(raw) if raw.isdigit() else None
