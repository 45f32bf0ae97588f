"""The in-app notification list: the same events as web push, for every phone."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import g
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from .. import auth
from ..domain import notifications
from ..extensions import db
from ..models import Notification
from . import api_bp
from .openapi import doc
from .util import json_body
from .util import paginate


class NotificationTextSchema(Schema):
    title = fields.String()
    body = fields.String()


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={
        "description": "new_referral, forwarded, status_changed or overdue"})
    title = fields.String(metadata={"description": "Bahasa Indonesia"})
    body = fields.String(metadata={"description": "Bahasa Indonesia"})
    en = fields.Nested(NotificationTextSchema, metadata={"description": "English"})
    count = fields.Integer()
    desa = fields.String()
    kecamatan = fields.String()
    urgent = fields.Boolean()
    child = fields.Boolean()
    referral_id = fields.String(allow_none=True)
    url = fields.String(metadata={"description": "The app's page to open"})
    created_at = fields.DateTime()
    read = fields.Boolean()


class NotificationListSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    unread = fields.Integer()


class MarkReadSchema(Schema):
    up_to = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                           metadata={"description": "Mark this notification and every older "
                                                    "one read"})


class UnreadSchema(Schema):
    unread = fields.Integer()


def _dump(row: Notification) -> dict:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    return {"id": row.id, **row.payload, "created_at": created.isoformat(),
            "read": row.read_at is not None}


@api_bp.get("/notifications")
@doc(response=NotificationListSchema, paged=True)
@auth.login_required()
def list_notifications():
    """The user's notifications, newest first, with how many are unread."""
    page = paginate(sa.select(Notification).where(Notification.user_id == g.user.id)
                    .order_by(Notification.id.desc()))
    page["items"] = [_dump(row) for row in page["items"]]
    page["unread"] = notifications.unread_count(db.session, g.user.id)
    return page


@api_bp.post("/notifications/read")
@doc(body=MarkReadSchema, response=UnreadSchema)
@auth.login_required()
@auth.locks_itself
def mark_read():
    """Mark the user's notifications up to an id read; returns how many stay unread."""
    up_to = MarkReadSchema().load(json_body())["up_to"]
    notifications.mark_read(db.session, g.user.id, up_to)
    db.session.commit()
    return {"unread": notifications.unread_count(db.session, g.user.id)}
