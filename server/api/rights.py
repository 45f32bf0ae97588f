"""The rights of the person (UU PDP Pasal 32, 40-44), served by the LTSA desk and admins:
everything held about a person as JSON (access), the withdrawal of consent (processing
stops, the records leave every phone) and the erasure. Correction is the person's PATCH
(server/api/persons.py), which the desk may use. Each action is audited with ids only.
"""

import datetime as dt

from flask import current_app
from flask import g
from marshmallow import Schema
from marshmallow import fields

from .. import audit
from .. import auth
from .. import scopes
from .. import sync_registry
from ..domain import persons
from ..domain import rights
from ..extensions import db
from ..models import Person
from ..models import User
from ..models import utcnow
from ..schemas.records import consent_schema
from ..schemas.records import migration_plan_schema
from ..schemas.records import person_schema
from ..schemas.records import referral_event_schema
from ..schemas.records import referral_schema
from . import api_bp
from .openapi import doc

DESK = ("ltsa", "admin")
# The village side withdraws consent for the persons it may change, as its phones do.
WITHDRAWERS = ("ltsa", "admin", "officer", "community")


class PersonDataSchema(Schema):
    """Everything held about one person, across organisations (UU PDP Pasal 32)."""

    generated_at = fields.String()
    retention_months = fields.Integer(metadata={
        "description": "Closed records unchanged this long are erased (RETENTION_MONTHS)."})
    person = fields.Dict(metadata={"description": "The person, as GET /api/persons/{id}, "
                                                  "with processing_stopped_at and erased_at"})
    consents = fields.List(fields.Dict())
    migration_plans = fields.List(fields.Dict())
    referrals = fields.List(fields.Dict(), metadata={
        "description": "Each referral with its whole history (`events`)."})
    conflicts = fields.List(fields.Dict(), metadata={
        "description": "The conflict log's entries about these records."})
    possible_duplicates = fields.List(fields.Dict(), metadata={
        "description": "Pairs naming this person (the other person by id only)."})
    audit = fields.List(fields.Dict(), metadata={
        "description": "Who read, changed or exported these records, and when: the account's "
                       "name and role, the action, the record, the field names changed."})


class RightsResultSchema(Schema):
    person_id = fields.String()
    processing_stopped_at = fields.String(allow_none=True)
    erased_at = fields.String(allow_none=True)
    consents_withdrawn = fields.List(fields.String())


class PrivacySettingsSchema(Schema):
    retention_months = fields.Integer()


def _iso(moment) -> str | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def _audit_entry(entry, ids: set[str]) -> dict:
    user = db.session.get(User, entry.user_id) if entry.user_id is not None else None
    detail = entry.detail or {}
    return {"at": _iso(entry.at), "action": entry.action, "entity": entry.entity,
            # A list read names other persons too: only this person's records are shown.
            "entity_id": entry.entity_id if entry.entity_id in ids else None,
            "user": {"name": user.full_name, "role": user.role} if user else None,
            "fields": detail.get("fields") if isinstance(detail.get("fields"), list) else None}


def person_data(person: Person) -> dict:
    """Everything held about `person`, as JSON."""
    held = rights.held(db.session, person)
    ids = held.ids()
    referrals = [referral_schema.dump(r) | {"events": [referral_event_schema.dump(e)
                                                       for e in held.events[r.id]]}
                 for r in held.referrals]
    return {
        "generated_at": _iso(utcnow()),
        "retention_months": current_app.config["RETENTION_MONTHS"],
        "person": person_schema.dump(person) | {
            "processing_stopped_at": _iso(person.processing_stopped_at),
            "erased_at": _iso(person.erased_at)},
        "consents": [consent_schema.dump(c) for c in held.consents],
        "migration_plans": [migration_plan_schema.dump(p) for p in held.plans],
        "referrals": referrals,
        "conflicts": [sync_registry.conflict_dump(c) | {"id": c.id}
                      for c in rights.conflicts_about(db.session, ids)],
        "possible_duplicates": [sync_registry.duplicate_dump(p) | {"id": p.id}
                                for p in held.pairs],
        "audit": [_audit_entry(e, set(ids))
                  for e in rights.audit_about(db.session, person, ids)],
    }


def _result(person: Person, withdrawn: list[str]) -> dict:
    return {"person_id": person.id, "processing_stopped_at": _iso(person.processing_stopped_at),
            "erased_at": _iso(person.erased_at), "consents_withdrawn": withdrawn}


def withdraw_consents(user: User, person: Person) -> list[str]:
    """Withdraw every active consent of the person through the write path (while its
    processing has not stopped); returns their ids."""
    withdrawn = []
    for consent in persons.active_consents(person):
        sync_registry.write(user, "consents", consent.id, {"withdrawn_at": utcnow()})
        withdrawn.append(consent.id)
    return withdrawn


def erase(user: User, person: Person) -> list[str]:
    """Erase the person and the persons merged into them: consents still active are
    withdrawn through the write path first; returns the ids of every record erased."""
    for one in rights.with_merged(db.session, person):
        if one.processing_stopped_at is None:
            withdraw_consents(user, one)
    return rights.erase_person(db.session, person, user.id)


@api_bp.get("/persons/<person_id>/data")
@auth.login_required(*DESK)
@doc(response=PersonDataSchema, errors=(403,))
def get_person_data(person_id):
    """Everything held about a person across organisations (the right of access), for the
    LTSA desk and admins; the export is written to the audit log."""
    person = scopes.get_readable(g.user, Person, person_id)
    data = person_data(person)
    audit.record("access_export", "person", person.id)
    db.session.commit()
    return data


@api_bp.post("/persons/<person_id>/withdraw")
@auth.login_required(*WITHDRAWERS)
@doc(response=RightsResultSchema, errors=(403,))
def withdraw_person(person_id):
    """Withdraw the person's consent as a whole (UU PDP Pasal 40): every active consent is
    withdrawn, processing stops, and the person with their records leaves every phone at
    its next sync. The LTSA desk and admins still read them here. Twice changes nothing."""
    person = scopes.get_readable(g.user, Person, person_id)
    withdrawn = []
    if person.processing_stopped_at is None:
        persons.check_change(g.user, person)
        withdrawn = withdraw_consents(g.user, person)
        rights.stop_processing(db.session, rights.held(db.session, person),
                               rights.CONSENT_WITHDRAWN, g.user.id)
        audit.record("withdraw", "person", person.id, {"consents": withdrawn})
        db.session.commit()
    return _result(person, withdrawn)


@api_bp.post("/persons/<person_id>/erase")
@auth.login_required(*DESK)
@doc(response=RightsResultSchema, errors=(403,))
def erase_person(person_id):
    """Erase a person (UU PDP Pasal 43-44): personal fields and the free text of their
    records removed, their conflict entries deleted, possible-duplicate pairs closed; the
    figures of the reports stay. The records leave every phone. Twice changes nothing."""
    person = scopes.get_readable(g.user, Person, person_id)
    if person.erased_at is None:
        ids = erase(g.user, person)
        audit.record("erase", "person", person.id, {"ids": ids})
        db.session.commit()
    return _result(person, [])


@api_bp.get("/privacy")
@auth.login_required()
@doc(response=PrivacySettingsSchema)
def privacy_settings():
    """What the consent notice states: how long records are kept."""
    return {"retention_months": current_app.config["RETENTION_MONTHS"]}
