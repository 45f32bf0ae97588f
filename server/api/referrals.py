"""Referrals (rujukan) to the LTSA and its partners, and their history of events."""

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import g

from .. import audit
from .. import auth
from .. import scopes
from .. import sync_registry
from ..domain import referrals as policy
from ..errors import ApiError
from ..extensions import db
from ..models import Referral
from ..models import ReferralEvent
from ..models import new_uuid
from ..schemas.records import ReferralDetailSchema
from ..schemas.records import ReferralEventListSchema
from ..schemas.records import ReferralEventSchema
from ..schemas.records import ReferralPageSchema
from ..schemas.records import ReferralPatchSchema
from ..schemas.records import ReferralQuerySchema
from ..schemas.records import ReferralSchema
from ..schemas.records import referral_detail_schema
from ..schemas.records import referral_event_list_schema
from ..schemas.records import referral_event_schema
from ..schemas.records import referral_page_schema
from ..schemas.records import referral_patch_schema
from ..schemas.records import referral_query_schema
from ..schemas.records import referral_schema
from . import api_bp
from .openapi import doc
from .util import etag
from .util import json_body
from .util import paginate
from .util import query_args
from .util import replayed
from .util import seen_version


@api_bp.get("/referrals")
@auth.login_required()
@doc(query=ReferralQuerySchema, response=ReferralPageSchema, paged=True)
def list_referrals():
    """Referrals in the user's scope, newest first."""
    args = query_args(referral_query_schema)
    select = sa.select(Referral).where(scopes.readable(g.user, Referral)).options(
        so.selectinload(Referral.person), so.selectinload(Referral.assigned_organisation))
    for name, value in args.items():
        select = select.where(getattr(Referral, name) == value)
    page = paginate(select.order_by(Referral.created_at.desc(), Referral.id))
    audit.record("read", "referral", None, {"ids": [r.id for r in page["items"]]})
    db.session.commit()
    return referral_page_schema.dump(page)


@api_bp.get("/referrals/<referral_id>")
@auth.login_required()
@doc(response=ReferralDetailSchema)
def get_referral(referral_id):
    """One referral with its events, oldest first."""
    referral = scopes.get_readable(g.user, Referral, referral_id)
    audit.record("read", "referral", referral.id)
    db.session.commit()
    return referral_detail_schema.dump(referral), 200, etag(referral)


@api_bp.post("/referrals")
@auth.login_required()
@doc(body=ReferralSchema, response=ReferralDetailSchema, status=201, errors=(403, 404, 409))
def create_referral():
    """Refer a person to the LTSA; the first event, terkirim, is written with it.

    The person must be in the sender's scope; with lawful basis persetujuan they must have
    an active consent to `rujukan_ltsa`. Sent again with the same id: 200.
    """
    data = referral_schema.load(json_body())
    if referral := replayed(g.user, Referral, data.get("id")):
        return referral_detail_schema.dump(referral), 200
    referral = sync_registry.write(g.user, "referrals", data.get("id") or new_uuid(), data)
    audit.record("create", "referral", referral.id, {"person_id": referral.person_id})
    db.session.commit()
    return referral_detail_schema.dump(referral), 201


@api_bp.patch("/referrals/<referral_id>")
@auth.login_required()
@doc(body=ReferralPatchSchema, response=ReferralSchema, errors=(403, 409))
def update_referral(referral_id):
    """Correct a referral. The village side (officer, community) changes services, reason,
    urgency and case category while it is terkirim; LTSA, partner and admin set the
    outcome, urgency and case category at any time."""
    referral = scopes.get_readable(g.user, Referral, referral_id)
    data = referral_patch_schema.load(json_body())
    # Online, every field sent must be the role's to change, even one sent unchanged.
    policy.check_fields(g.user, referral, data)
    sync_registry.write(g.user, "referrals", referral.id, data, seen_version=seen_version())
    audit.record("update", "referral", referral.id, {"fields": sorted(data)})
    db.session.commit()
    return referral_schema.dump(referral)


@api_bp.get("/referrals/<referral_id>/events")
@auth.login_required()
@doc(response=ReferralEventListSchema)
def list_referral_events(referral_id):
    """A referral's events, oldest first, flagged late transitions included."""
    referral = scopes.get_readable(g.user, Referral, referral_id)
    events = policy.events_of(referral)
    audit.record("read", "referral", referral.id, {"events": len(events)})
    db.session.commit()
    return referral_event_list_schema.dump({"items": events})


@api_bp.post("/referrals/<referral_id>/events")
@auth.login_required()
@doc(body=ReferralEventSchema, response=ReferralEventSchema, status=201, errors=(403, 409))
def create_referral_event(referral_id):
    """Add a note, or change the status (dirujuk_lanjut names the partner organisation).

    A transition the rules do not allow from the current status answers 409; a status the
    user's role may never set answers 403. Both carry a `reason` code.
    """
    referral = scopes.get_readable(g.user, Referral, referral_id)
    data = referral_event_schema.load(json_body())
    if event := replayed(g.user, ReferralEvent, data.get("id")):
        if event.referral_id != referral.id:
            raise ApiError("id_taken")
        return referral_event_schema.dump(event), 200
    values = policy.online_event(referral, data)
    policy.check_transition(g.user, referral, values)
    # The event's clock follows every event of the history, even one from a phone whose
    # clock runs ahead, so the new event is the last one applied.
    history = [e.hlc for e in policy.events_of(referral)]
    event = sync_registry.write(g.user, "referral_events", data.get("id") or new_uuid(),
                                values, op="insert",
                                after=history)
    audit.record("create", "referral_event", event.id,
                 {"referral_id": referral.id, "kind": event.kind, "status": event.status})
    db.session.commit()
    return referral_event_schema.dump(event), 201
