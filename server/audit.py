"""The audit log of who read, changed or exported personal data (UU PDP Pasal 31)."""

from flask import g
from flask import has_request_context
from flask import request

from .extensions import db
from .models import AuditEntry


def record(action: str, entity: str, entity_id: str | None = None, detail: dict | None = None,
           user=None) -> None:
    """Add an audit entry to the current transaction; it commits with the change it logs.

    The request's user and device token are taken from the request (a command passes
    `user`). A list names the ids it returned in `detail["ids"]`, a read of records that
    hang off a person names it in `detail["person_id"]`, and a sync names the ids pulled
    and pushed per entity (`detail["pulled"]`, `detail["pushed"]`): one entry per request,
    which `flask breach-report` (server/cli_breach.py) maps to persons.
    """
    device = None
    if user is None and has_request_context():
        # Both set by login_required for this request; a view that names the user itself
        # (the login) has no device token yet.
        user, device = g.get("user"), g.get("device")
    address = request.remote_addr if has_request_context() else None
    db.session.add(AuditEntry(
        user_id=user.id if user is not None else None,
        device_id=device.id if device is not None else None,
        action=action, entity=entity, entity_id=entity_id,
        detail=detail or {}, address=address,
    ))
