"""Persons (warga), their consents and migration plans.

Every read of personal data and every change is written to the audit log in the same
transaction (UU PDP Pasal 31). Persons are archived, never deleted.
"""

import sqlalchemy as sa
from flask import g

from .. import audit
from .. import auth
from .. import identity
from .. import scopes
from .. import sync_registry
from ..domain import consents
from ..domain import disclosure
from ..domain import duplicates
from ..domain import persons
from ..domain.common import adults_born_by
from ..domain.common import today
from ..domain.persons import active_consents
from ..errors import ApiError
from ..errors import Refused
from ..extensions import db
from ..models import Consent
from ..models import MigrationPlan
from ..models import Person
from ..models import User
from ..models import new_uuid
from ..models import utcnow
from ..schemas.records import ConsentListSchema
from ..schemas.records import ConsentSchema
from ..schemas.records import DuplicateListSchema
from ..schemas.records import DuplicateQuerySchema
from ..schemas.records import MigrationPlanListSchema
from ..schemas.records import MigrationPlanSchema
from ..schemas.records import NikRevealSchema
from ..schemas.records import PersonCreateSchema
from ..schemas.records import PersonPageSchema
from ..schemas.records import PersonQuerySchema
from ..schemas.records import PersonResultSchema
from ..schemas.records import PersonSchema
from ..schemas.records import consent_list_schema
from ..schemas.records import consent_schema
from ..schemas.records import duplicate_list_schema
from ..schemas.records import duplicate_query_schema
from ..schemas.records import migration_plan_list_schema
from ..schemas.records import migration_plan_schema
from ..schemas.records import person_create_schema
from ..schemas.records import person_page_schema
from ..schemas.records import person_patch_schema
from ..schemas.records import person_query_schema
from ..schemas.records import person_result_schema
from ..schemas.records import person_schema
from . import api_bp
from .openapi import doc
from .util import etag
from .util import json_body
from .util import paginate
from .util import query_args
from .util import replayed
from .util import seen_version


def person_warnings(user: User, person: Person) -> list[dict]:
    """What to look at again: a NIK that disagrees with the form, or one already recorded."""
    warnings = []
    if person.nik:
        nik = identity.parse_nik(person.nik, today())
        warnings += identity.nik_warnings(nik, person.sex, person.birth_date)
        same = db.session.execute(
            sa.select(sa.func.count()).select_from(Person).where(
                duplicates.same_nik(person.nik), Person.id != person.id,
                scopes.readable(user, Person))
        ).scalar_one()
        if same:
            warnings.append({"field": "nik",
                             "id": f"NIK ini sudah tercatat pada {same} warga lain; periksa "
                                   "apakah orangnya sama.",
                             "en": f"This NIK is already recorded for {same} other "
                                   "person(s); check whether it is the same person."})
    if any(consents.guardian_missing(person, c.guardian_name)
           for c in active_consents(person)):
        warnings.append({"field": "birth_date",
                         "id": "Warga ini masih anak; persetujuannya perlu dari orang tua/wali.",
                         "en": "This person is a child; consent must come from a parent or "
                               "guardian."})
    return warnings


def add_consent(user: User, person: Person, data: dict) -> Consent:
    """Record a consent of the person (server.domain.consents says who and how)."""
    data = data | {"given_at": data.get("given_at") or utcnow(), "person_id": person.id}
    consent = sync_registry.write(user, "consents", data.get("id") or new_uuid(), data)
    audit.record("create", "consent", consent.id, {"person_id": person.id})
    return consent


def create_person(user: User, data: dict) -> tuple[Person, bool]:
    """Register a person, with the consent given at the same time; returns (person, created)."""
    consent = data.pop("consent", None)
    if person := replayed(user, Person, data.get("id")):
        return person, False
    person = sync_registry.write(user, "persons", data.get("id") or new_uuid(), data)
    audit.record("create", "person", person.id, {"fields": sorted(data)})
    if consent is not None:
        try:
            add_consent(user, person, consent)
        except Refused as e:
            # The consent came inside the person's body: name its fields there.
            e.fields = {"consent": e.fields} if e.fields else None
            raise
    return person, True


def update_person(user: User, person: Person, data: dict) -> Person:
    """Change the fields given, as the person's policy allows (server.domain.persons)."""
    persons.check_consent_first(person, data.get("lawful_basis", person.lawful_basis))
    sync_registry.write(user, "persons", person.id, data, seen_version=seen_version())
    audit.record("update", "person", person.id, {"fields": sorted(data)})
    return person


def person_answer(user: User, person: Person, schema=person_schema) -> dict:
    """A person as the user may receive it (server.domain.disclosure)."""
    return disclosure.answer(user, "persons", person, schema.dump(person))


def _person_result(user: User, person: Person) -> dict:
    return person_answer(user, person, person_result_schema) | {
        "warnings": person_warnings(user, person)}


def _disclosed_items(user: User, page: dict, key: str = "") -> dict:
    """A dumped list of persons (or of items holding one under `key`) as disclosed."""
    by_id = {}
    ids = [(item[key] if key else item)["id"] for item in page["items"]]
    for person in db.session.execute(sa.select(Person).where(Person.id.in_(ids))).scalars():
        by_id[person.id] = person
    for item in page["items"]:
        dumped = item[key] if key else item
        disclosed = disclosure.answer(user, "persons", by_id[dumped["id"]], dumped)
        if key:
            item[key] = disclosed
        else:
            dumped.clear()
            dumped.update(disclosed)
    return page


# Persons ----------------------------------------------------------------------------------

@api_bp.get("/persons")
@auth.login_required()
@doc(query=PersonQuerySchema, response=PersonPageSchema, paged=True)
def list_persons():
    """Persons in the user's scope, by name; archived ones only on request."""
    args = query_args(person_query_schema)
    select = sa.select(Person).where(scopes.readable(g.user, Person))
    if not args["include_archived"]:
        select = select.where(Person.archived_at.is_(None))
    for name in ("desa_code", "migration_status", "lawful_basis"):
        if name in args:
            select = select.where(getattr(Person, name) == args[name])
    if "q" in args:
        select = select.where(sa.func.lower(Person.name).contains(args["q"].lower(),
                                                                  autoescape=True))
    if "is_child" in args:
        child = Person.birth_date > adults_born_by()
        select = select.where(child if args["is_child"] else sa.not_(child))
    page = paginate(select.order_by(Person.name, Person.id))
    audit.record("read", "person", None, {"ids": [p.id for p in page["items"]]})
    answer = _disclosed_items(g.user, person_page_schema.dump(page))
    db.session.commit()
    return answer


@api_bp.post("/persons/duplicates")
@auth.login_required()
@doc(body=DuplicateQuerySchema, response=DuplicateListSchema)
@auth.locks_itself
def find_duplicates():
    """Persons in the user's scope who may be the same as the one about to be registered:
    the same NIK, or a similar name with the same birth date (and desa, if given).

    A POST that changes nothing (but the audit log): the NIK, name and birth date travel
    in the body, never in a URL that access logs and proxies keep. Takes no write lock.
    """
    args = duplicate_query_schema.load(json_body())
    readable = scopes.readable(g.user, Person)
    found: dict[str, tuple[Person, str]] = {}
    if "nik" in args:
        for person in db.session.execute(
            sa.select(Person).where(readable, duplicates.same_nik(args["nik"]))
        ).scalars():
            found[person.id] = (person, "nik")
    if "name" in args and "birth_date" in args:
        select = sa.select(Person).where(readable, Person.birth_date == args["birth_date"])
        if "desa_code" in args:
            select = select.where(Person.desa_code == args["desa_code"])
        for person in db.session.execute(select).scalars():
            if duplicates.similar_names(args["name"], person.name):
                found.setdefault(person.id, (person, "name_birth_date"))
    audit.record("read", "person", None, {"ids": list(found), "by": "duplicates"})
    db.session.commit()
    return _disclosed_items(g.user, duplicate_list_schema.dump(
        {"items": [{"match": match, "person": person} for person, match in found.values()]}),
        "person")


@api_bp.get("/persons/<person_id>")
@auth.login_required()
@doc(response=PersonSchema)
def get_person(person_id):
    """One person; the read is written in the audit log."""
    person = scopes.get_readable(g.user, Person, person_id)
    audit.record("read", "person", person.id)
    answer = person_answer(g.user, person)
    db.session.commit()
    return answer, 200, etag(person)


@api_bp.post("/persons/<person_id>/nik")
@auth.login_required()
@doc(response=NikRevealSchema, errors=(403,))
def reveal_nik(person_id):
    """The person's NIK in full, for a document (officers of the person's desa, the LTSA,
    admins). Everywhere else it is masked; each reveal is written to the audit log. A POST,
    so that no cache or URL log keeps it; the answer is not stored."""
    person = scopes.get_readable(g.user, Person, person_id)
    disclosure.check_reveal(g.user)
    audit.record("reveal_nik", "person", person.id)
    db.session.commit()
    return {"nik": person.nik}, 200, {"Cache-Control": "no-store"}


@api_bp.post("/persons")
@auth.login_required()
@doc(body=PersonCreateSchema, response=PersonResultSchema, status=201, errors=(403, 409))
def create_person_view():
    """Register a person; with lawful basis persetujuan, the consent comes in the same body.

    Answers the person with `warnings` (a NIK that disagrees with the form, registered
    outside Kabupaten Cirebon, or already recorded). Sent again with the same id: 200.
    """
    person, created = create_person(g.user, person_create_schema.load(json_body()))
    db.session.commit()
    return _person_result(g.user, person), 201 if created else 200


@api_bp.patch("/persons/<person_id>")
@auth.login_required()
@doc(body=person_patch_schema, response=PersonResultSchema, errors=(403, 409))
def update_person_view(person_id):
    """Correct some fields of a person; answers with `warnings` as on create."""
    person = persons.writable(g.user, person_id)
    update_person(g.user, person, person_patch_schema.load(json_body()))
    db.session.commit()
    return _person_result(g.user, person)


@api_bp.post("/persons/<person_id>/archive")
@auth.login_required()
@doc(response=PersonSchema, errors=(403,))
def archive_person(person_id):
    """Archive a person (persons are never deleted); archiving twice changes nothing."""
    person = scopes.get_readable(g.user, Person, person_id)
    if person.archived_at is None:
        sync_registry.write(g.user, "persons", person.id, {"archived_at": utcnow()})
        audit.record("archive", "person", person.id)
        db.session.commit()
    return person_answer(g.user, person)


# Consents ---------------------------------------------------------------------------------

@api_bp.get("/persons/<person_id>/consents")
@auth.login_required()
@doc(response=ConsentListSchema)
def list_consents(person_id):
    """A person's consents, oldest first, withdrawn ones included."""
    person = scopes.get_readable(g.user, Person, person_id)
    consents = db.session.execute(
        sa.select(Consent).where(Consent.person_id == person.id, Consent.deleted_hlc.is_(None))
        .order_by(Consent.given_at, Consent.id)
    ).scalars().all()
    audit.record("read", "consent", None, {"person_id": person.id,
                                           "ids": [c.id for c in consents]})
    db.session.commit()
    return consent_list_schema.dump({"items": consents})


@api_bp.post("/persons/<person_id>/consents")
@auth.login_required()
@doc(body=ConsentSchema, response=ConsentSchema, status=201, errors=(403, 409))
def create_consent(person_id):
    """Record a consent; for a child it names the parent or guardian who gave it."""
    person = persons.writable(g.user, person_id)
    data = consent_schema.load(json_body())
    if consent := replayed(g.user, Consent, data.get("id")):
        return consent_schema.dump(consent), 200
    consent = add_consent(g.user, person, data)
    db.session.commit()
    return consent_schema.dump(consent), 201


@api_bp.get("/consents/<consent_id>")
@auth.login_required()
@doc(response=ConsentSchema)
def get_consent(consent_id):
    """One consent."""
    consent = scopes.get_readable(g.user, Consent, consent_id)
    audit.record("read", "consent", consent.id)
    db.session.commit()
    return consent_schema.dump(consent)


@api_bp.post("/consents/<consent_id>/withdraw")
@auth.login_required()
@doc(response=ConsentSchema, errors=(403,))
def withdraw_consent(consent_id):
    """Record that a consent was withdrawn (UU PDP Pasal 40); withdrawing twice changes
    nothing. Processing that relied on it must stop: see the person's other consents."""
    consent = scopes.get_readable(g.user, Consent, consent_id)
    if consent.withdrawn_at is None:
        sync_registry.write(g.user, "consents", consent.id, {"withdrawn_at": utcnow()})
        audit.record("update", "consent", consent.id, {"fields": ["withdrawn_at"]})
        db.session.commit()
    return consent_schema.dump(consent)


# Migration plans --------------------------------------------------------------------------

@api_bp.get("/persons/<person_id>/migration-plans")
@auth.login_required()
@doc(response=MigrationPlanListSchema)
def list_migration_plans(person_id):
    """A person's migration plans, the current one first."""
    person = scopes.get_readable(g.user, Person, person_id)
    plans = db.session.execute(
        sa.select(MigrationPlan).where(MigrationPlan.person_id == person.id,
                                       MigrationPlan.deleted_hlc.is_(None))
        .order_by(MigrationPlan.updated_at.desc(), MigrationPlan.id)
    ).scalars().all()
    audit.record("read", "migration_plan", None, {"person_id": person.id,
                                                  "ids": [p.id for p in plans]})
    db.session.commit()
    return migration_plan_list_schema.dump({"items": plans})


def put_migration_plan(user: User, person: Person, data: dict) -> tuple[MigrationPlan, bool]:
    """Replace the plan named by id, or the person's current plan; returns (plan, created)."""
    if data.get("id"):
        plan = db.session.get(MigrationPlan, data["id"])
        if plan is not None and plan.person_id != person.id:
            raise ApiError("id_taken")
    else:
        plan = db.session.execute(
            sa.select(MigrationPlan).where(MigrationPlan.person_id == person.id,
                                           MigrationPlan.deleted_hlc.is_(None))
            .order_by(MigrationPlan.updated_at.desc()).limit(1)
        ).scalar_one_or_none()
    created = plan is None
    plan_id = data.get("id") or (new_uuid() if created else plan.id)
    plan = sync_registry.write(user, "migration_plans", plan_id,
                               data | {"person_id": person.id})
    audit.record("create" if created else "update", "migration_plan", plan.id,
                 {"person_id": person.id, "fields": sorted(data)})
    return plan, created


@api_bp.put("/persons/<person_id>/migration-plans")
@auth.login_required()
@doc(body=MigrationPlanSchema, response=MigrationPlanSchema, errors=(403, 409))
def put_migration_plan_view(person_id):
    """Replace the person's current migration plan (or the one named by id); creates it
    when there is none (201)."""
    person = persons.writable(g.user, person_id)
    plan, created = put_migration_plan(g.user, person, migration_plan_schema.load(json_body()))
    db.session.commit()
    return migration_plan_schema.dump(plan), 201 if created else 200


@api_bp.get("/migration-plans/<plan_id>")
@auth.login_required()
@doc(response=MigrationPlanSchema)
def get_migration_plan(plan_id):
    """One migration plan."""
    plan = scopes.get_readable(g.user, MigrationPlan, plan_id)
    if plan.deleted_hlc is not None:
        raise ApiError(404, "Data tidak ditemukan.", "Record not found.")
    audit.record("read", "migration_plan", plan.id)
    db.session.commit()
    return migration_plan_schema.dump(plan)
