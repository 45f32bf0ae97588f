"""Referrals (rujukan) to the LTSA and its partners, and their history of events."""

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import g

from sync import referral_status

from .. import audit
from .. import auth
from .. import scopes
from .. import sync_registry
from ..domain import followup
from ..domain import referrals as policy
from ..domain.common import WIB
from ..errors import ApiError
from ..extensions import db
from ..models import Person
from ..models import Referral
from ..models import ReferralEvent
from ..models import new_uuid
from ..schemas.records import ReferralCountsSchema
from ..schemas.records import ReferralDetailSchema
from ..schemas.records import ReferralEventListSchema
from ..schemas.records import ReferralEventSchema
from ..schemas.records import ReferralPageSchema
from ..schemas.records import ReferralPatchSchema
from ..schemas.records import ReferralQuerySchema
from ..schemas.records import ReferralSchema
from ..schemas.records import referral_counts_schema
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


def _filtered(args: dict):
    """The referrals in the user's scope that match the list's filters."""
    select = sa.select(Referral).where(scopes.readable(g.user, Referral))
    for name in ("status", "urgency", "desa_code", "person_id", "assigned_organisation_id",
                 "is_child"):
        if name in args:
            select = select.where(getattr(Referral, name) == args[name])
    if "service" in args:
        # services is a JSON list of codes: match the code with its quotes.
        select = select.where(sa.cast(Referral.services, sa.Text).contains(
            f'"{args["service"]}"', autoescape=True))
    if "kecamatan_code" in args:
        select = select.where(Referral.desa_code.startswith(args["kecamatan_code"] + ".",
                                                            autoescape=True))
    if "overdue" in args:
        clause = followup.overdue_clause()
        select = select.where(clause if args["overdue"] else sa.not_(clause))
    if "appointment_on" in args:
        start, end = wib_day(args["appointment_on"])
        select = select.where(Referral.appointment_at >= start, Referral.appointment_at < end)
    if "sent_from" in args:
        select = select.where(Referral.created_at >= wib_day(args["sent_from"])[0])
    if "sent_to" in args:
        select = select.where(Referral.created_at < wib_day(args["sent_to"])[1])
    if "q" in args:
        named = sa.select(Person.id).where(
            sa.func.lower(Person.name).contains(args["q"].lower(), autoescape=True))
        select = select.where(Referral.person_id.in_(named))
    return select


def wib_day(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The start and end (UTC) of a day in WIB."""
    start = dt.datetime.combine(day, dt.time(), WIB).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def _inbox_order(select):
    """Open referrals before closed ones; emergencies (darurat), then children, then overdue
    referrals first; then the newest."""
    return select.order_by(
        sa.case((Referral.status.in_(sorted(referral_status.CLOSED)), 1), else_=0),
        sa.case((Referral.urgency == "darurat", 0), else_=1),
        sa.case((Referral.is_child, 0), else_=1),
        sa.case((followup.overdue_clause(), 0), else_=1),
        Referral.created_at.desc(), Referral.id)


def _detail(referral: Referral) -> dict:
    """A referral with the events the user may read, oldest first."""
    return referral_detail_schema.dump(referral) | {"events": referral_event_schema.dump(
        policy.events_of(referral, g.user), many=True)}


@api_bp.get("/referrals")
@auth.login_required()
@doc(query=ReferralQuerySchema, response=ReferralPageSchema, paged=True)
def list_referrals():
    """Referrals in the user's scope, newest first (`sort=inbox`: the desk's order).

    Filters: status, urgency, service, desa_code, kecamatan_code, person_id,
    assigned_organisation_id, is_child, overdue, appointment_on (the desk's day list),
    sent_from/sent_to (WIB days), q (part of the person's name)."""
    args = query_args(referral_query_schema)
    select = _filtered(args).options(
        so.selectinload(Referral.person), so.selectinload(Referral.assigned_organisation))
    if args["sort"] == "inbox":
        select = _inbox_order(select)
    else:
        select = select.order_by(Referral.created_at.desc(), Referral.id)
    page = paginate(select)
    audit.record("read", "referral", None, {"ids": [r.id for r in page["items"]]})
    db.session.commit()
    return referral_page_schema.dump(page)


@api_bp.get("/referrals/counts")
@auth.login_required()
@doc(query=ReferralQuerySchema, response=ReferralCountsSchema)
def count_referrals():
    """How many referrals per status (every status, 0 included), overdue and in all, in
    the user's scope and the list's filters but `status`."""
    args = query_args(referral_query_schema)
    args.pop("status", None)
    matching = _filtered(args).subquery()
    rows = db.session.execute(
        sa.select(matching.c.status, sa.func.count()).group_by(matching.c.status)).all()
    counts = dict.fromkeys(referral_status.STATUSES, 0) | {status: n for status, n in rows}
    overdue = db.session.execute(sa.select(sa.func.count()).select_from(
        _filtered(args).where(followup.overdue_clause()).subquery())).scalar_one()
    return referral_counts_schema.dump(
        {"counts": counts, "overdue": overdue, "total": sum(counts.values())})


@api_bp.get("/referrals/<referral_id>")
@auth.login_required()
@doc(response=ReferralDetailSchema)
def get_referral(referral_id):
    """One referral with its events, oldest first."""
    referral = scopes.get_readable(g.user, Referral, referral_id)
    audit.record("read", "referral", referral.id)
    db.session.commit()
    return _detail(referral), 200, etag(referral)


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
        return _detail(referral), 200
    referral = sync_registry.write(g.user, "referrals", data.get("id") or new_uuid(), data)
    audit.record("create", "referral", referral.id, {"person_id": referral.person_id})
    db.session.commit()
    return _detail(referral), 201


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
    events = policy.events_of(referral, g.user)
    audit.record("read", "referral", referral.id, {"events": len(events)})
    db.session.commit()
    return referral_event_list_schema.dump({"items": events})


@api_bp.post("/referrals/<referral_id>/events")
@auth.login_required()
@doc(body=ReferralEventSchema, response=ReferralEventSchema, status=201, errors=(403, 409))
def create_referral_event(referral_id):
    """Add a note (with its audience: desk or village), or change the status: receive
    (diterima), schedule (dijadwalkan with appointment_at and place), serve (dilayani),
    forward (dirujuk_lanjut with the partner's organisation_id; needs the person's consent
    to partner referral where the basis is consent), hand back to the LTSA (dikembalikan,
    partners), no-show (tidak_hadir), close (selesai with its outcome), withdraw
    (dibatalkan, the village side).

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
