"""GET /healthz: is the database answering?"""

from flask import Blueprint
from flask import current_app
from sqlalchemy import text

from .extensions import db

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    """200 when the database answers a query, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        current_app.logger.exception("health check: database did not answer")
        db.session.rollback()
        return {"status": "unavailable", "database": "tidak menjawab / not answering"}, 503
    return {"status": "ok"}
