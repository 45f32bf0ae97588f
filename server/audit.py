"""The audit log of who read, changed or exported personal data (UU PDP Pasal 31)."""

from flask import g
from flask import has_request_context
from flask import request

from .extensions import db
from .models import AuditEntry


def record(action: str, entity: str, entity_id: str | None = None, detail: dict | None = None,
           user=None) -> None:
    """Add an audit entry to the current transaction; it commits with the change it logs."""
    if user is None and has_request_context():
        user = g.get("user")
    address = request.remote_addr if has_request_context() else None
    db.session.add(AuditEntry(
        user_id=user.id if user is not None else None,
        action=action, entity=entity, entity_id=entity_id,
        detail=detail or {}, address=address,
    ))
