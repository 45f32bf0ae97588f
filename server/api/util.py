"""Small helpers shared by the API views."""

import sqlalchemy as sa
from flask import current_app
from flask import request

from sync.protocol import INT64_MAX
from sync.protocol import VALUE_PROBLEMS
from sync.protocol import bad_values
from sync.protocol import nested_messages

from .. import scopes
from ..errors import ApiError
from ..extensions import db
from ..models import ID_MAX
from ..validation import Bilingual
from ..validation import bilingual_fields

PAGING_ARGS = ("page", "per_page")
# The highest page: its offset must fit a database integer too.
MAX_PAGE = ID_MAX


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
        raise ApiError("invalid", fields=bilingual_fields(problems))
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
    PostgreSQL refuses): a 422 naming the parameter, before any view reads it. A path id
    beyond ID_MAX names no row: 404 (the database could not even compare it)."""
    if any(isinstance(value, int) and value > ID_MAX
           for value in (request.view_args or {}).values()):
        raise ApiError(404)
    given = [*request.args.items(multi=True), *(request.view_args or {}).items()]
    problems = {name: [Bilingual(*VALUE_PROBLEMS[problem]) for _, problem in bad_values(value)]
                for name, value in given if isinstance(value, str) and bad_values(value)}
    if problems:
        raise ApiError("invalid", fields=bilingual_fields(problems))


def too_deep() -> ApiError:
    """A body nested beyond what the JSON parser follows: it cannot name a field."""
    return ApiError(400, "Isi permintaan bersarang terlalu dalam.",
                    "The body is nested too deeply.")


def paging() -> tuple[int, int]:
    """The page (1-based) and page size from the query string, bounded."""
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("per_page", 50))
    except ValueError:
        raise ApiError(400, "page dan per_page harus bilangan bulat.",
                       "page and per_page must be integers.") from None
    size_max = current_app.config["PAGE_SIZE_MAX"]
    if not 1 <= page <= MAX_PAGE or size < 1 or size > size_max:
        raise ApiError(400, f"page antara 1 dan {MAX_PAGE}; per_page antara 1 dan {size_max}.",
                       f"page must be between 1 and {MAX_PAGE}; per_page between 1 and "
                       f"{size_max}.")
    return page, size


def query_args(schema) -> dict:
    """The query string validated by `schema`; page and per_page are left to paging()."""
    args = schema.load({k: v for k, v in request.args.items() if k not in PAGING_ARGS})
    # The numbers of a query string are record ids: one no id column holds is refused.
    problems = {name: [Bilingual(f"Harus antara {-ID_MAX - 1} dan {ID_MAX}.",
                                 f"Must be between {-ID_MAX - 1} and {ID_MAX}.")]
                for name, value in args.items()
                if isinstance(value, int) and not isinstance(value, bool)
                and not -ID_MAX - 1 <= value <= ID_MAX}
    if problems:
        raise ApiError("invalid", fields=bilingual_fields(problems))
    return args


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
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), within 64 bits.
    if raw.isascii() and raw.isdigit() and int(raw) <= INT64_MAX:
        return int(raw)
    return None
