"""The JSON API under /api: one module per area."""

from flask import Blueprint

api_bp = Blueprint("api", __name__)

from . import accounts  # noqa: E402,F401
from . import admin  # noqa: E402,F401
from . import conflicts  # noqa: E402,F401
from . import duplicates  # noqa: E402,F401
from . import notifications  # noqa: E402,F401
from . import openapi  # noqa: E402,F401
from . import organisations  # noqa: E402,F401
from . import persons  # noqa: E402,F401
from . import push  # noqa: E402,F401
from . import referrals  # noqa: E402,F401
from . import regions  # noqa: E402,F401
from . import reports  # noqa: E402,F401
from . import rights  # noqa: E402,F401
from . import sync  # noqa: E402,F401
from . import visits  # noqa: E402,F401
from .util import check_request_text  # noqa: E402

# Every request's query string and path parameters, as every JSON body (util.json_body).
api_bp.before_request(check_request_text)
