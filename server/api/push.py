"""Web push: the server's public key, and this device's push subscription."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask import g
from marshmallow import Schema
from marshmallow import fields

from .. import auth
from ..domain import notifications
from ..errors import Refused
from ..extensions import db
from ..models import PushSubscription
from . import api_bp
from .openapi import doc
from .util import json_body

MAX_ENDPOINT = 1024


class PushKeySchema(Schema):
    public_key = fields.String(metadata={
        "description": "The VAPID public key (base64url), the applicationServerKey of "
                       "pushManager.subscribe"})


class PushSubscriptionKeysSchema(Schema):
    p256dh = fields.String(required=True, metadata={"description": "base64url, 65 bytes"})
    auth = fields.String(required=True, metadata={"description": "base64url, 16 bytes"})


class PushSubscriptionSchema(Schema):
    endpoint = fields.String(required=True, metadata={"description": "https URL"})
    keys = fields.Nested(PushSubscriptionKeysSchema, required=True)


def _unavailable() -> Refused:
    return Refused("unavailable", "Notifikasi push belum disiapkan di server ini; daftar "
                   "notifikasi di aplikasi tetap berjalan.",
                   "Web push is not set up on this server; the in-app notification list "
                   "still works.")


def _public_key() -> str:
    key = current_app.config.get("VAPID_PUBLIC_KEY")
    if not key or not current_app.config.get("VAPID_PRIVATE_KEY"):
        raise _unavailable()
    return key


@api_bp.get("/push/key")
@doc(response=PushKeySchema, errors=(503,))
def push_key():
    """The server's VAPID public key, for subscribing to web push.

    Answers 503 with code `unavailable` when the server has no VAPID keys.
    """
    return {"public_key": _public_key()}


def _b64_length(value, length: int) -> bytes | None:
    if not isinstance(value, str) or not value or len(value) > 2 * length:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == length else None


def _endpoint_ok(endpoint) -> bool:
    if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT:
        return False
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return True
    # Tests stand in for a push service with a receiver on this machine.
    return current_app.testing and parts.scheme == "http" and parts.hostname == "127.0.0.1"


def _load(data: dict) -> dict:
    """The subscription as the browser gives it (PushSubscription.toJSON()), checked."""
    problems = {}
    endpoint = data.get("endpoint")
    if not _endpoint_ok(endpoint):
        problems["endpoint"] = [{"id": "Alamat langganan harus URL https (maks. 1024 karakter).",
                                 "en": "The endpoint must be an https URL (at most 1024 "
                                       "characters)."}]
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    p256dh = _b64_length(keys.get("p256dh"), 65)
    if p256dh is None or p256dh[0] != 4:
        problems["keys.p256dh"] = [{"id": "Kunci p256dh tidak valid (base64url, 65 byte).",
                                    "en": "Invalid p256dh key (base64url, 65 bytes)."}]
    if _b64_length(keys.get("auth"), 16) is None:
        problems["keys.auth"] = [{"id": "Kunci auth tidak valid (base64url, 16 byte).",
                                  "en": "Invalid auth key (base64url, 16 bytes)."}]
    if problems:
        raise Refused("invalid", fields=problems)
    return {"endpoint": endpoint, "p256dh": keys["p256dh"], "auth": keys["auth"]}


@api_bp.post("/push/subscription")
@doc(body=PushSubscriptionSchema, status=204, errors=(503,))
@auth.login_required()
@auth.locks_itself
def subscribe():
    """Store this device's push subscription (replacing the one it had).

    Logging out, or revoking the device, removes it.
    """
    _public_key()
    values = _load(json_body())
    device = g.device
    mine = db.session.execute(
        sa.select(PushSubscription).where(PushSubscription.device_token_id == device.id)
    ).scalar_one_or_none()
    if mine is not None and mine.endpoint == values["endpoint"]:
        # The same browser again (new keys, say): its unsent messages stay queued.
        mine.p256dh, mine.auth = values["p256dh"], values["auth"]
    else:
        # Another endpoint for this device, or this endpoint on a device logged in before
        # in the same browser: the old one goes.
        notifications.remove_subscriptions(db.session, sa.or_(
            PushSubscription.device_token_id == device.id,
            PushSubscription.endpoint == values["endpoint"]))
        db.session.add(PushSubscription(device_token_id=device.id, user_id=g.user.id,
                                        **values))
    db.session.commit()
    return "", 204


@api_bp.delete("/push/subscription")
@doc(status=204)
@auth.login_required()
@auth.locks_itself
def unsubscribe():
    """Remove this device's push subscription (nothing to remove is fine)."""
    notifications.remove_subscriptions(db.session,
                                       PushSubscription.device_token_id == g.device.id)
    db.session.commit()
    return "", 204
