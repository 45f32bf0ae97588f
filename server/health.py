"""GET /healthz: is the database answering?"""

from flask import Blueprint
from flask import current_app
from sqlalchemy import text

from sync.errorlog import error_classes

from .extensions import db

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    """200 when the database answers a query, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as e:
        # The class, not the message: a connection error may quote the database URL.
        current_app.logger.error("health check: database did not answer: %s",
                                 error_classes(e))
        db.session.rollback()
        return {"status": "unavailable", "database": "tidak menjawab / not answering"}, 503
    return {"status": "ok"}
