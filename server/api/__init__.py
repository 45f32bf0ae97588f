"""The JSON API under /api: one module per area."""

from flask import Blueprint

api_bp = Blueprint("api", __name__)

from . import accounts  # noqa: E402,F401
