"""The synced entities as the sync engine sees them, and the one write path of the server.

Each entity's rules are its policy in server/domain: the hooks of its `EntitySpec` here
(`authorize`, `screen`, `prepare`, `after_write`) are those policies, for a phone's push
and for a write made through the API alike (`write` books an API write as a mutation of
the server's node and applies it through the same engine; docs/sync-protocol.md §19).
Validation reuses the API's schemas; only the fields listed here travel through sync.
Fields the server derives (a referral's status, desa, child flag) never come from a
client: they are sent to clients as `derived`.
"""

from __future__ import annotations

import datetime as dt
import operator
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError
from marshmallow import fields as mm_fields
from marshmallow import missing as mm_missing

from sync import engine
from sync import hlc as hlc_mod
from sync import referral_status
from sync import sequence

from . import scopes
from .domain import consents
from .domain import disclosure
from .domain import duplicates
from .domain import followup
from .domain import persons
from .domain import plans
from .domain import referrals
from .domain import visits
from .domain.common import per_transaction
from .errors import Refused
from .extensions import db
from .models import ConflictEntry
from .models import Consent
from .models import MigrationPlan
from .models import Organisation
from .models import OutreachVisit
from .models import Person
from .models import PossibleDuplicate
from .models import Referral
from .models import ReferralEvent
from .models import Region
from .models import User
from .schemas import records as rs
from .validation import bilingual_fields

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
    "referrals": referrals.FIELDS,
    "referral_events": referrals.EVENT_FIELDS,
}


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


def _refusal(error: Refused) -> engine.Refusal:
    return engine.Refusal(error.code, error.message_id, error.message_en, fields=error.fields)


def _guard(check):
    """A domain refusal becomes the refusal of one mutation, its code the reason."""
    if check is None:
        return None

    def guarded(*args):
        try:
            return check(*args)
        except Refused as e:
            raise _refusal(e) from None

    return guarded


def _hold_region(code: str) -> None:
    """Keep a desa's region in the identity map (which holds unchanged rows only weakly),
    so that validate_desa, run for each record of a batch, finds it without a query."""
    held = per_transaction(db.session, "jangkau_sync_regions", dict)
    if code not in held:
        held[code] = db.session.get(Region, code)


def _organisation_name(organisation_id: int | None) -> str | None:
    # Looked up once per transaction: a page's referrals name a few organisations, and
    # the identity map holds unreferenced rows too weakly to keep them.
    if organisation_id is None:
        return None
    names = per_transaction(db.session, "jangkau_organisation_names", dict)
    if organisation_id not in names:
        organisation = db.session.get(Organisation, organisation_id)
        names[organisation_id] = organisation.name if organisation else None
    return names[organisation_id]


def _derived_referral(row: Referral) -> dict:
    return {"status": row.status, "status_label": referral_status.STATUS_LABELS.get(row.status),
            "desa_code": row.desa_code, "is_child": row.is_child,
            "assigned_organisation_id": row.assigned_organisation_id,
            # What the referring village sees of the referral's way: where it is, when and
            # where the person is expected (the outcome is the record's own field).
            "assigned_organisation_name": _organisation_name(row.assigned_organisation_id),
            "appointment_at": _iso_utc(row.appointment_at),
            "appointment_place": row.appointment_place,
            "first_action_at": _iso_utc(row.first_action_at),
            "overdue": followup.is_overdue(row),
            "due_on": followup.due_date(row.created_at).isoformat()}


def _derived_person(row: Person) -> dict:
    return {"merged_into_id": row.merged_into_id}


def _derived_event(row: ReferralEvent) -> dict:
    return {"author_role": row.author_role, "hlc": row.hlc, "flagged": row.flagged,
            "flag_reason": row.flag_reason, "created_by_id": row.created_by_id}


_MISSING = object()


def _converter(field):
    """How `field` dumps a value that is not None, as marshmallow would (None: ask it)."""
    kind = type(field)
    if kind._serialize is mm_fields.String._serialize:
        return lambda value: value if type(value) is str else str(value)
    if kind._serialize is mm_fields.Integer._serialize and not field.as_string:
        return int
    if kind._serialize is mm_fields.Boolean._serialize:
        return lambda value: value if type(value) is bool else field._serialize(value, None, None)
    if kind._serialize is mm_fields.Date._serialize and field.format in (None, "iso"):
        return lambda value: value.isoformat()
    if kind._serialize is rs.UTCDateTime._serialize and field.format in (None, "iso"):
        return lambda value: (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(field, mm_fields.List) and kind._serialize is mm_fields.List._serialize:
        inner = _converter(field.inner)
        if inner is not None:
            return lambda value: [None if each is None else inner(each) for each in value]
    return None


# The type a field's converter gives back unchanged: a value of exactly that type is
# taken as it is, without a call (most values of a row).
_KEPT = {mm_fields.String._serialize: str, mm_fields.Integer._serialize: int,
         mm_fields.Boolean._serialize: bool}


def row_dumper(schema):
    """`schema.dump` for rows (or any object with the fields as attributes), compiled once:
    reads each field's attribute and converts it by the field's type, without marshmallow's
    per-field machinery (a pull dumps a thousand rows a page). The same output as
    `schema.dump` (tests/test_pull_walks.py compares them); a field of a type not listed in
    `_converter` is dumped by marshmallow itself."""
    plan = []
    for name, field in schema.dump_fields.items():
        if field.attribute is not None or field.data_key is not None or (
                field.dump_default is not mm_missing):
            plan.append((name, None, field))
        else:
            plan.append((name, _converter(field), field))

    def dump_each(row) -> dict:
        out = {}
        for name, convert, field in plan:
            if convert is None:
                value = field.serialize(name, row, schema.get_attribute)
                if value is not mm_missing:
                    out[field.data_key or name] = value
                continue
            value = getattr(row, name, _MISSING)
            if value is _MISSING:
                continue
            out[name] = None if value is None else convert(value)
        return out

    if len(plan) < 2 or any(convert is None for _, convert, _ in plan):
        return dump_each
    # Every field converted here: a row's attributes read in one call, a value of the type
    # its field dumps taken as it is. An object without every field (a write's values)
    # goes field by field.
    read = operator.attrgetter(*(name for name, _, _ in plan))
    fast = [(name, convert, _KEPT.get(type(field)._serialize))
            for name, convert, field in plan]

    def dump(row) -> dict:
        try:
            values = read(row)
        except AttributeError:
            return dump_each(row)
        out = {}
        for (name, convert, kept), value in zip(fast, values, strict=True):
            out[name] = value if value is None or type(value) is kept else convert(value)
        return out

    return dump


# What a pull does not read of a synced row; but what the entities' `derived` need.
_UNREAD = ("created_at", "updated_at", "created_by_id", "nik_hash", "erased_at",
           "registration_age")
_READ = {"referrals": ("created_at",), "referral_events": ("created_by_id",),
         # A community member's visits: their own (visits_readable).
         "visits": ("created_by_id",)}


def _spec(name, model, readable, authorize, *, insert_only=False, archive_only=False,
          screen=None, prepare=None, after_write=None, derived=None) -> engine.EntitySpec:
    schema = _SCHEMAS[name](only=SYNC_FIELDS[name])
    dump_row = row_dumper(schema)

    def load(values: dict, partial: bool) -> dict:
        if isinstance(values.get("desa_code"), str):
            _hold_region(values["desa_code"])
        return schema.load(values, partial=partial)

    def dump(row) -> dict:
        return dump_row(row)

    def screened(user, row, mutation: dict) -> bool:
        # The policy sees the values as sent (an insert with its defaults), loaded.
        if row is None:
            return False
        try:
            sent = load(mutation.get("fields") or {}, not insert_only)
        except ValidationError:
            return False  # the merge's own load names the bad field
        if duplicates.merge_move(db.session, name, row, sent):
            return False
        return screen(user, row, sent)

    def authorized(user, row, values: dict) -> None:
        # A merge of possible duplicates was authorised as a whole; its moves pass.
        if not duplicates.merge_move(db.session, name, row, values):
            authorize(user, row, values)

    return engine.EntitySpec(
        name=name, model=model,
        kind={"fields": dict.fromkeys(SYNC_FIELDS[name], "lww"), "insert_only": insert_only,
              "archive_only": archive_only},
        load=load, dump=dump, readable=readable, authorize=_guard(authorized),
        prepare=prepare, after_write=after_write, derived=derived,
        screen=_guard(screened) if screen else None,
        disclose=lambda user, row, change: disclosure.change(user, name, row, change),
        # No phone holds the records of a person whose processing stopped.
        on_phones=lambda user: scopes.on_phones(model),
        walks=lambda user: scopes.pull_walks(user, model),
        unread=tuple(column for column in _UNREAD
                     if column in model.__table__.c and column not in _READ.get(name, ())),
        pull_page=lambda session, user, rows: _pull_page(session, user, name, model, rows),
    )


def _pull_page(session, user, name: str, model, rows: list):
    """A page's rows disclosed with what they need looked up once for the page (the
    contact consents of a partner's persons)."""
    if not disclosure.needs_contact_consent(user, name):
        return rows, lambda row, change: disclosure.change(user, name, row, change, False)
    consenting = disclosure.contact_consents(row.id for row in rows)
    return rows, lambda row, change: disclosure.change(user, name, row, change,
                                                       row.id in consenting)


def _resend_person(session, user, row: Consent, is_new: bool) -> None:
    # What a partner receives of a person follows the person's consents (server.domain
    # .disclosure): a consent given or withdrawn sends the person to the phones again.
    sequence.touch([engine.get_row(session, Person, row.person_id)])


def build_registry() -> dict[str, engine.EntitySpec]:
    """Every synced entity by its name on the wire."""
    return {
        "visits": _spec("visits", OutreachVisit, scopes.visits_readable, visits.authorize),
        "persons": _spec("persons", Person, scopes.persons_readable, persons.authorize,
                         archive_only=True, prepare=persons.prepare,
                         after_write=persons.after_write, derived=_derived_person),
        # Consents are withdrawn (withdrawn_at), never deleted: the record of consent stays.
        "consents": _spec("consents", Consent, scopes.READABLE[Consent], consents.authorize,
                          archive_only=True, screen=consents.screen,
                          after_write=_resend_person),
        "migration_plans": _spec("migration_plans", MigrationPlan,
                                 scopes.READABLE[MigrationPlan], plans.authorize),
        # A referral is withdrawn with a dibatalkan event, never deleted.
        "referrals": _spec("referrals", Referral, scopes.referrals_readable,
                           referrals.authorize, archive_only=True, prepare=referrals.prepare,
                           after_write=referrals.after_write, derived=_derived_referral),
        "referral_events": _spec("referral_events", ReferralEvent,
                                 scopes.READABLE[ReferralEvent], referrals.authorize_event,
                                 insert_only=True, screen=referrals.screen_event,
                                 prepare=referrals.prepare_event,
                                 after_write=referrals.after_event, derived=_derived_event),
    }


def get_registry() -> dict[str, engine.EntitySpec]:
    """The app's registry, built once: the specs hold schema instances, reused by every write."""
    ext = current_app.extensions
    if "jangkau_sync" not in ext:
        registry = build_registry()
        ext["jangkau_sync"] = (registry, conflict_spec(registry))
    return ext["jangkau_sync"][0]


def write(user, entity: str, record_id: str, values: dict, *, op: str = "upsert",
          seen_version: int | None = None, after: list[str] = ()):
    """Apply a write made through the API as a mutation of the server's node.

    `values` are loaded (Python) values of synced fields. The mutation's clock is after
    every clock the record holds (and every clock in `after`, e.g. the events of a history
    it must follow); its base is the record as stored now, under the write lock: the user
    chose these values looking at it. With `seen_version` older than the stored version,
    the user did not see what changed since (a phone's push, say), so the write names no
    base and each value it replaces unseen goes to the conflict log. Returns the row;
    raises Refused like the push would refuse the mutation.
    """
    spec = get_registry()[entity]
    fields = {name: value for name, value in values.items() if name in SYNC_FIELDS[entity]}
    # As JSON, the way a phone would send them (dates as ISO strings).
    sent = {name: value for name, value in spec.dump(SimpleNamespace(**fields)).items()
            if name in fields}
    row = db.session.get(spec.model, record_id)
    clocks = dict(row.field_clocks or {}) if row is not None else {}
    stamp = hlc_mod.now(engine.SERVER_NODE, last=max([*clocks.values(), *after], default=None))
    stale = row is not None and seen_version is not None and seen_version != row.change_seq
    base = None if stale or op == "insert" else {name: clocks.get(name) for name in sent}
    mutation = {"entity": entity, "id": record_id, "op": op, "fields": sent, "hlc": stamp,
                "node": engine.SERVER_NODE, "client_id": engine.SERVER_NODE, "mutation_id": 0,
                "author": str(user.id), "base": base}
    before = engine.to_record(spec, row) if stale else None
    try:
        engine.apply_one(db.session, spec, user, mutation, ConflictEntry)
    except engine.Refusal as r:
        raise Refused(r.reason, r.message_id, r.message_en,
                      fields=bilingual_fields(r.fields) if r.fields else None) from None
    row = db.session.get(spec.model, record_id)
    if before is not None:
        _log_unseen(spec, row, before, sent, str(user.id))
    return row


def _log_unseen(spec, row, before: dict, sent: dict, author: str) -> None:
    """Every value a stale write replaced goes to the conflict log, also one the merge
    would not log (another web user's, on the same server node): the user did not see it.
    Entries the merge logged already are not repeated (log_conflicts stores each once)."""
    after = engine.to_record(spec, row)
    entries = []
    for name in sorted(sent):
        old_clock, new_clock = before["_clocks"].get(name), after["_clocks"].get(name)
        if old_clock is None or new_clock == old_clock or before.get(name) == after.get(name):
            continue
        entries.append({
            "entity": spec.name, "id": row.id, "field": name, "reason": "concurrent_edit",
            "winning_value": after.get(name), "winning_hlc": new_clock, "winning_author": author,
            "losing_value": before.get(name), "losing_hlc": old_clock,
            "losing_author": before["_authors"].get(name)})
    engine.log_conflicts(db.session, ConflictEntry, entries)


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


def disclosed_conflict(user, row: ConflictEntry, dumped: dict) -> dict:
    """A conflict entry as `user` may receive it: its values disclosed as its field is
    (server.domain.disclosure), for the API and the pull alike."""
    spec = get_registry().get(row.entity)
    record = db.session.get(spec.model, row.record_id) if spec is not None else None
    return disclosure.conflict(user, row.entity, row.field, record, dumped)
def conflicts_on_phones(registry):
    """Conflicts go to the phones that hold their record."""

    def on_phones(user: User):
        # Named by the records phones may not hold: few, where those they hold are many.
        held_off = [sa.and_(ConflictEntry.entity == name, ConflictEntry.record_id.in_(
            sa.select(spec.model.id).where(sa.not_(spec.on_phones(user)))))
            for name, spec in registry.items() if spec.on_phones is not None]
        return sa.not_(sa.or_(*held_off))

    return on_phones


def conflict_spec(registry) -> engine.EntitySpec:
    """How conflicts travel to phones: pulled only, for the conflict review screen."""
    return engine.EntitySpec(
        name="conflicts", model=ConflictEntry, kind={"pull_only": True},
        load=lambda values, partial: values, dump=conflict_dump,
        readable=conflicts_readable(registry), authorize=lambda *a: None,
        disclose=lambda user, row, change: dict(
            change, record=disclosed_conflict(user, row, change["record"])),
        on_phones=conflicts_on_phones(registry),
    )


def duplicate_dump(row: PossibleDuplicate) -> dict:
    return {"person_id": row.person_id, "other_person_id": row.other_person_id,
            "match": row.match, "status": row.status, "kept_person_id": row.kept_person_id,
            "created_at": _iso_utc(row.created_at), "resolved_at": _iso_utc(row.resolved_at)}


def pull_only_specs() -> tuple[engine.EntitySpec, ...]:
    """Entities phones pull and never push, beside the conflicts: possible duplicates."""
    return (engine.EntitySpec(
        name="possible_duplicates", model=PossibleDuplicate, kind={"pull_only": True},
        load=lambda values, partial: values, dump=duplicate_dump,
        readable=duplicates.readable, authorize=lambda *a: None,
        on_phones=lambda user: sa.and_(
            ~scopes.person_stopped(PossibleDuplicate.person_id),
            ~scopes.person_stopped(PossibleDuplicate.other_person_id)),
    ),)
