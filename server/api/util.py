"""Small helpers shared by the API views."""

from flask import current_app
from flask import request

from ..errors import ApiError


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
