"""Login, logout and the current user."""

from flask import g

from .. import audit
from .. import auth
from ..extensions import db
from ..schemas.accounts import login_schema
from ..schemas.accounts import user_schema
from . import api_bp
from .util import json_body


@api_bp.post("/auth/login")
def login():
    """Log in with a username and password; returns a bearer token for this device."""
    data = login_schema.load(json_body())
    token, user = auth.login(data["username"], data["password"], data.get("device_name", ""))
    return {"token": token, "user": user_schema.dump(user)}, 201


@api_bp.post("/auth/logout")
@auth.login_required()
def logout():
    """Revoke this device's token."""
    auth.revoke_device(g.device, "logout")
    audit.record("logout", "user", str(g.user.id))
    db.session.commit()
    return "", 204


@api_bp.get("/me")
@auth.login_required()
def me():
    """The current user with role and scope."""
    return user_schema.dump(g.user)


@api_bp.get("/me/devices")
@auth.login_required()
def my_devices():
    """The devices logged in to this account."""
    from ..models import DeviceToken
    from ..schemas.accounts import device_schema

    rows = db.session.execute(
        db.select(DeviceToken).where(DeviceToken.user_id == g.user.id)
        .order_by(DeviceToken.created_at.desc())
    ).scalars()
    current = g.device.id
    return {"items": [dict(device_schema.dump(d), current=d.id == current) for d in rows]}


