"""The synced entities as the sync engine sees them: fields, merge kinds, scopes, writers.

Validation reuses the API's schemas (the same rules on both paths); only the fields listed
here travel through sync. Fields the server derives (a referral's status, desa, child flag)
never come from a client: they are sent to clients as `derived`.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from marshmallow import fields as mm_fields

from sync import engine
from sync import hlc as hlc_mod
from sync import referral_status
from sync import sequence

from . import scopes
from .errors import ApiError
from .extensions import db
from .models import CommunityGroup
from .models import ConflictEntry
from .models import Consent
from .models import MigrationPlan
from .models import Organisation
from .models import OutreachVisit
from .models import Person
from .models import Referral
from .models import ReferralEvent
from .models import Region
from .models import User
from .schemas import records as rs

SYNC_FIELDS = {
    "visits": ("visit_type", "visit_date", "desa_code", "dusun", "rt", "rw",
               "community_group_id", "topics", "participants_male", "participants_female",
               "participants_children", "notes"),
    "persons": ("name", "nik", "sex", "birth_date", "phone", "desa_code", "address",
                "marital_status", "education", "disability", "migration_status",
                "lawful_basis", "archived_at"),
    "consents": ("person_id", "purposes", "notice_version", "method", "guardian_name",
                 "guardian_relation", "given_at", "withdrawn_at", "keep_until"),
    "migration_plans": ("person_id", "destination_country", "sector", "scheme", "agency_name",
                        "informal_recruiter", "fee_asked", "documents"),
    "referrals": ("person_id", "services", "reason", "case_category", "urgency", "outcome"),
    "referral_events": ("referral_id", "kind", "status", "note", "organisation_id",
                        "seen_status"),
}
# Who may change which referral fields: the village side describes the need, the desk
# records what happened.
REFERRAL_VILLAGE_FIELDS = frozenset({"person_id", "services", "reason", "case_category",
                                     "urgency"})
REFERRAL_DESK_FIELDS = frozenset({"outcome", "urgency", "case_category"})


# Schemas: the API's, with the fields that sync carries made loadable.

class _PersonSync(rs.PersonSchema):
    archived_at = rs.UTCDateTime(allow_none=True, load_default=None)


class _ConsentSync(rs.ConsentSchema):
    person_id = mm_fields.String(required=True)
    given_at = rs.UTCDateTime(required=True)
    withdrawn_at = rs.UTCDateTime(allow_none=True, load_default=None)


class _PlanSync(rs.MigrationPlanSchema):
    person_id = mm_fields.String(required=True)


class _ReferralSync(rs.ReferralSchema):
    outcome = rs.Text(load_default="", validate=rs.validate.Length(max=rs.MAX_TEXT))


class _EventSync(rs.ReferralEventSchema):
    referral_id = mm_fields.String(required=True)


_SCHEMAS = {
    "visits": rs.VisitSchema,
    "persons": _PersonSync,
    "consents": _ConsentSync,
    "migration_plans": _PlanSync,
    "referrals": _ReferralSync,
    "referral_events": _EventSync,
}


def _refuse_from(error: ApiError) -> engine.Refusal:
    reason = {403: "forbidden", 404: "not_found", 409: "conflict"}.get(error.status, "invalid")
    return engine.Refusal(reason, error.message_id, error.message_en, fields=error.fields)


def _guard(check):
    """Turn the API's scope errors into refusals of one mutation."""

    def authorize(user, row, values):
        try:
            check(user, row, values)
        except ApiError as e:
            raise _refuse_from(e) from None

    return authorize


def _readable_person(user, person_id: str) -> Person:
    return scopes.get_readable(user, Person, person_id)


def _authorize_visit(user, row, values):
    scopes.check_visit_write(user, values["desa_code"], values.get("community_group_id"), row)
    group_id = values.get("community_group_id")
    if group_id is not None:
        group = db.session.get(CommunityGroup, group_id)
        if group is None or group.desa_code != values["desa_code"]:
            raise ApiError(422, fields={"community_group_id": [{
                "id": "Kelompok ini tidak ada di desa kunjungan.",
                "en": "This group is not in the visit's desa."}]})


def _authorize_person(user, row, values):
    scopes.check_person_write(user, values["desa_code"], row)
    if row is not None and row.desa_code != values["desa_code"] and user.role != "admin":
        # Moving a person to another desa is an admin's correction, not a phone's.
        scopes.check_desa_write(user, row.desa_code)
    scopes.check_lawful_basis(user, values["lawful_basis"])


def _authorize_person_child(user, row, values):
    person = _readable_person(user, values["person_id"])
    if row is not None and row.person_id != values["person_id"]:
        raise ApiError(422, fields={"person_id": [{"id": "Tidak dapat dipindah ke warga lain.",
                                                   "en": "Cannot move to another person."}]})
    scopes.check_person_write(user, person.desa_code, person)


def _authorize_consent(user, row, values):
    _authorize_person_child(user, row, values)
    person = db.session.get(Person, values["person_id"])
    if rs.is_child(person.birth_date) and not values.get("guardian_name"):
        # UU PDP Pasal 25: a child's data needs a parent's or guardian's consent.
        raise ApiError(422, fields={"guardian_name": [{
            "id": f"Warga di bawah {rs.ADULT_AGE} tahun: persetujuan diberikan orang tua/wali; "
                  "isi namanya.",
            "en": f"A person under {rs.ADULT_AGE}: a parent or guardian consents; "
                  "give their name."}]})


def _authorize_referral(user, row, values):
    from .referral_actions import check_can_refer
    from .referral_actions import check_village_edit

    person = _readable_person(user, values["person_id"])
    if row is None:
        check_can_refer(user, person)
        return
    if row.person_id != values["person_id"]:
        raise ApiError(422, fields={"person_id": [{"id": "Tidak dapat dipindah ke warga lain.",
                                                   "en": "Cannot move to another person."}]})
    changed = {name for name in SYNC_FIELDS["referrals"]
               if getattr(row, name) != values.get(name)}
    if user.role in ("officer", "community"):
        allowed = REFERRAL_VILLAGE_FIELDS
        scopes.check_referral_create(user, person)
    elif user.role in ("ltsa", "partner"):
        allowed = REFERRAL_DESK_FIELDS
    else:
        allowed = REFERRAL_VILLAGE_FIELDS | REFERRAL_DESK_FIELDS
    if changed - allowed:
        names = ", ".join(sorted(changed - allowed))
        raise ApiError(403, f"Peran Anda tidak dapat mengubah: {names}.",
                       f"Your role cannot change: {names}.")
    if changed & (REFERRAL_VILLAGE_FIELDS - REFERRAL_DESK_FIELDS) or (
            changed and user.role in ("officer", "community")):
        check_village_edit(row)


def _authorize_event(user, row, values):
    # Anyone who may read the referral may add to its history; a status the role may not
    # set is kept in the history and flagged, not applied (sync.referral_status).
    scopes.get_readable(user, Referral, values["referral_id"])
    organisation_id = values.get("organisation_id")
    if organisation_id is not None:
        organisation = db.session.get(Organisation, organisation_id)
        if organisation is None or not organisation.is_active:
            raise ApiError(422, fields={"organisation_id": [{
                "id": "Organisasi tidak dikenal atau tidak aktif.",
                "en": "Unknown or inactive organisation."}]})


def _prepare_person(session, user, row, is_new):
    if is_new and user.role == "community":
        row.community_group_id = user.community_group_id


def _per_transaction(session, key: str, compute):
    """A value computed once per transaction: reference data that a batch would otherwise
    look up again for each of its records."""
    transaction = db.session().get_transaction()  # session may be the scoped_session
    cached = session.info.get(key)
    if cached is None or cached[0] is not transaction:
        cached = (transaction, compute())
        session.info[key] = cached
    return cached[1]


def _hold_region(code: str) -> None:
    """Keep a desa's region in the identity map (which holds unchanged rows only weakly),
    so that validate_desa, run for each record of a batch, finds it without a query."""
    held = _per_transaction(db.session, "jangkau_sync_regions", dict)
    if code not in held:
        held[code] = db.session.get(Region, code)


def _prepare_referral(session, user, row, is_new):
    person = session.get(Person, row.person_id)
    if is_new:
        from .referral_actions import ltsa_organisation_id

        row.desa_code = person.desa_code
        row.community_group_id = person.community_group_id
        row.is_child = bool(rs.is_child(person.birth_date))
        row.status = "terkirim"
        row.assigned_organisation_id = _per_transaction(session, "jangkau_ltsa_id",
                                                        ltsa_organisation_id)


def _prepare_event(session, user, row, is_new):
    if is_new:
        row.author_role = user.role
        row.hlc = row.field_clocks.get("kind") or max(row.field_clocks.values())


def _after_referral(session, user, row, is_new):
    if not is_new:
        return
    # The first event of a referral made on a phone: its id follows from the referral's,
    # so a retried push finds it instead of adding a second one.
    from .referral_actions import person_records
    from .referral_actions import refresh_referral

    # Read before anything is added, so that refresh_referral's query flushes the new event
    # and the touched rows together (a flush per referral fewer).
    entering = person_records(session, session.get(Person, row.person_id))
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"jangkau:referral:{row.id}:terkirim"))
    if session.get(ReferralEvent, event_id) is None:
        stamp = row.field_clocks.get("person_id") or hlc_mod.now(engine.SERVER_NODE)
        event = ReferralEvent(id=event_id, referral_id=row.id, kind="status", status="terkirim",
                              note="", author_role=user.role, hlc=stamp, created_by_id=user.id)
        engine.stamp_server_write(event, SYNC_FIELDS["referral_events"], str(user.id),
                                  stamp=stamp)
        session.add(event)
        engine.BatchRows.note_added(session, "referral_events", event_id)
    # The LTSA now sees the person through this referral: send the person again.
    sequence.touch(entering)
    refresh_referral(session, row)


def _after_event(session, user, row, is_new):
    from .referral_actions import refresh_referral

    referral = session.get(Referral, row.referral_id)
    refresh_referral(session, referral)


def _derived_referral(row: Referral) -> dict:
    return {"status": row.status, "status_label": referral_status.STATUS_LABELS.get(row.status),
            "desa_code": row.desa_code, "is_child": row.is_child,
            "assigned_organisation_id": row.assigned_organisation_id}


def _derived_event(row: ReferralEvent) -> dict:
    return {"author_role": row.author_role, "hlc": row.hlc, "flagged": row.flagged,
            "flag_reason": row.flag_reason, "created_by_id": row.created_by_id}


def _spec(name, model, readable, authorize, *, insert_only=False, archive_only=False,
          prepare=None, after_write=None, derived=None) -> engine.EntitySpec:
    schema = _SCHEMAS[name](only=SYNC_FIELDS[name])

    def load(values: dict, partial: bool) -> dict:
        if isinstance(values.get("desa_code"), str):
            _hold_region(values["desa_code"])
        return schema.load(values, partial=partial)

    def dump(row) -> dict:
        return schema.dump(row)

    return engine.EntitySpec(
        name=name, model=model,
        kind={"fields": dict.fromkeys(SYNC_FIELDS[name], "lww"), "insert_only": insert_only,
              "archive_only": archive_only},
        load=load, dump=dump, readable=readable, authorize=_guard(authorize),
        prepare=prepare, after_write=after_write, derived=derived,
    )


def build_registry() -> dict[str, engine.EntitySpec]:
    """Every synced entity by its name on the wire."""
    return {
        "visits": _spec("visits", OutreachVisit, scopes.visits_readable, _authorize_visit),
        "persons": _spec("persons", Person, scopes.persons_readable, _authorize_person,
                         archive_only=True, prepare=_prepare_person),
        # Consents are withdrawn (withdrawn_at), never deleted: the record of consent stays.
        "consents": _spec("consents", Consent, scopes.READABLE[Consent],
                          _authorize_consent, archive_only=True),
        "migration_plans": _spec("migration_plans", MigrationPlan,
                                 scopes.READABLE[MigrationPlan], _authorize_person_child),
        # A referral is withdrawn with a dibatalkan event, never deleted.
        "referrals": _spec("referrals", Referral, scopes.referrals_readable,
                           _authorize_referral, archive_only=True, prepare=_prepare_referral,
                           after_write=_after_referral, derived=_derived_referral),
        "referral_events": _spec("referral_events", ReferralEvent,
                                 scopes.READABLE[ReferralEvent], _authorize_event,
                                 insert_only=True, prepare=_prepare_event,
                                 after_write=_after_event, derived=_derived_event),
    }


REGISTRY_ENTITY_OF = {
    OutreachVisit: "visits", Person: "persons", Consent: "consents",
    MigrationPlan: "migration_plans", Referral: "referrals", ReferralEvent: "referral_events",
}


def conflicts_readable(registry):
    """Conflicts are readable by whoever may read their record."""

    def readable(user: User):
        clauses = []
        for name, spec in registry.items():
            ids = sa.select(spec.model.id).where(spec.readable(user))
            clauses.append(sa.and_(ConflictEntry.entity == name, ConflictEntry.record_id.in_(ids)))
        return sa.or_(*clauses)

    return readable


def conflict_dump(row: ConflictEntry) -> dict:
    return {
        "entity": row.entity, "record_id": row.record_id, "field": row.field,
        "reason": row.reason,
        "winning_value": row.winning_value, "winning_hlc": row.winning_hlc,
        "winning_author": _author_name(row.winning_author_id),
        "losing_value": row.losing_value, "losing_hlc": row.losing_hlc,
        "losing_author": _author_name(row.losing_author_id),
        "resolved_at": _iso_utc(row.resolved_at),
    }


def _iso_utc(moment) -> str | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def _author_name(user_id: int | None) -> dict | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    return {"id": user_id, "name": user.full_name if user else None}


def conflict_spec(registry) -> engine.EntitySpec:
    """How conflicts travel to phones: pulled only, for the conflict review screen."""
    return engine.EntitySpec(
        name="conflicts", model=ConflictEntry, kind={"pull_only": True},
        load=lambda values, partial: values, dump=conflict_dump,
        readable=conflicts_readable(registry), authorize=lambda *a: None,
    )
