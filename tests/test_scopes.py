"""Who may list, read, create and change what: the scope rules as one table.

One world: a community member of group G in desa A registered a person, recorded a visit,
a consent and a migration plan, and sent a referral that the LTSA forwarded to SBMI.
Each role then tries each operation on each kind of record. A record outside the role's
read scope does not exist for it (404, absent from lists); one it may read but not change
answers 403; a refused write leaves every row as it was.
"""

import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import CommunityGroup
from server.models import Consent
from server.models import MigrationPlan
from server.models import Organisation
from server.models import OutreachVisit
from server.models import Person
from server.models import Referral
from server.models import ReferralEvent
from server.models import utcnow
from server.schemas.records import today
from sync import hlc
from tests.conftest import DESA_A
from tests.conftest import DESA_B

pytestmark = pytest.mark.usefixtures("fast_passwords")

S, H = "shown", "hidden"  # a list answers 200 with or without the record
NA = None  # no such operation: referral events are append-only and read with the referral
OPERATIONS = ("list", "get", "create", "update")
KINDS = ("visit", "person", "consent", "migration_plan", "referral", "referral_event")
ABSENT = (404, 404, 404, 404)
# Each row: the outcomes of list, get, create, update for
#        visit                 person                consent               migration plan
#        referral              referral event
TABLE = {
    "officer_same_desa": [
        (S, 200, 201, 200), (S, 200, 201, 200), (S, 200, 201, 200), (S, 200, 201, 200),
        (S, 200, 201, 403), (S, NA, 201, NA)],
    "officer_other_desa": [
        (H, 404, 403, 404), (H, 404, 403, 404), ABSENT, ABSENT,
        (H, 404, 404, 404), (404, NA, 404, NA)],
    "community_creator": [
        (S, 200, 201, 200), (S, 200, 201, 200), (S, 200, 201, 200), (S, 200, 201, 200),
        (S, 200, 201, 403), (S, NA, 201, NA)],
    "community_same_group": [
        (S, 200, 201, 200), (H, 404, 201, 404), ABSENT, ABSENT,
        (H, 404, 404, 404), (404, NA, 404, NA)],
    "community_other_group": [
        (H, 404, 403, 404), (H, 404, 201, 404), ABSENT, ABSENT,
        (H, 404, 404, 404), (404, NA, 404, NA)],
    # The desk corrects a person and withdraws a consent at the person's request (UU PDP).
    "ltsa": [
        (H, 404, 403, 404), (S, 200, 403, 200), (S, 200, 403, 200), (S, 200, 403, 403),
        (S, 200, 403, 200), (S, NA, 201, NA)],
    "partner_forwarded": [
        (H, 404, 403, 404), (S, 200, 403, 403), (S, 200, 403, 403), (S, 200, 403, 403),
        (S, 200, 403, 200), (S, NA, 201, NA)],
    "partner_other_org": [
        (H, 404, 403, 404), (H, 404, 403, 404), ABSENT, ABSENT,
        (H, 404, 404, 404), (404, NA, 404, NA)],
    "admin": [
        (S, 200, 201, 200), (S, 200, 201, 200), (S, 200, 201, 200), (S, 200, 201, 200),
        (S, 200, 201, 200), (S, NA, 201, NA)],
}
MODELS = {"visit": OutreachVisit, "person": Person, "consent": Consent,
          "migration_plan": MigrationPlan, "referral": Referral,
          "referral_event": ReferralEvent}


@dataclass
class World:
    group_id: str
    other_group_id: str
    creator: object
    visit: str
    person: str
    consent: str
    migration_plan: str
    referral: str
    referral_event: str


def build_world(make_account) -> World:
    """The records of one community member of group G in desa A, forwarded to SBMI."""
    group = CommunityGroup(name="Pokmas Waled", desa_code=DESA_A)
    other_group = CommunityGroup(name="Pokmas Lain", desa_code=DESA_A)
    db.session.add_all([group, other_group])
    db.session.flush()
    creator = make_account("community", group_id=group.id)
    by = {"created_by_id": creator.user_id}
    sbmi = db.session.execute(sa.select(Organisation.id).where(Organisation.code == "sbmi")
                              ).scalar_one()
    visit = OutreachVisit(visit_type="sosialisasi", visit_date=today(), desa_code=DESA_A,
                          community_group_id=group.id, **by)
    person = Person(name="Warga Uji", sex="P", desa_code=DESA_A, migration_status="cpmi",
                    lawful_basis="persetujuan", community_group_id=group.id, **by)
    db.session.add_all([visit, person])
    db.session.flush()
    consent = Consent(person_id=person.id, purposes=["pencatatan"], notice_version="1",
                      method="tanda_tangan", given_at=utcnow(), **by)
    # The consent a new referral relies on; the table withdraws the other one.
    for_referrals = Consent(person_id=person.id, purposes=["rujukan_ltsa"], notice_version="1",
                            method="tanda_tangan", given_at=utcnow(), **by)
    plan = MigrationPlan(person_id=person.id, destination_country="TW", **by)
    referral = Referral(person_id=person.id, desa_code=DESA_A, community_group_id=group.id,
                        services=["pengaduan_kasus"], status="dirujuk_lanjut",
                        assigned_organisation_id=sbmi, **by)
    db.session.add_all([consent, for_referrals, plan, referral])
    db.session.flush()
    sent = hlc.now("phone-1")
    db.session.add(ReferralEvent(referral_id=referral.id, kind="status", status="terkirim",
                                 author_role="community", hlc=sent, **by))
    forwarded = ReferralEvent(referral_id=referral.id, kind="status", status="dirujuk_lanjut",
                              organisation_id=sbmi, author_role="ltsa",
                              hlc=hlc.now("server", last=sent))
    db.session.add(forwarded)
    db.session.commit()
    return World(group.id, other_group.id, creator, visit.id, person.id, consent.id, plan.id,
                 referral.id, forwarded.id)


def actor(role: str, world: World, make_account):
    if role == "community_creator":
        return world.creator
    return {
        "officer_same_desa": lambda: make_account("officer", desa_code=DESA_A),
        "officer_other_desa": lambda: make_account("officer", desa_code=DESA_B),
        "community_same_group": lambda: make_account("community", group_id=world.group_id),
        "community_other_group": lambda: make_account("community",
                                                      group_id=world.other_group_id),
        "ltsa": lambda: make_account("ltsa"),
        "partner_forwarded": lambda: make_account("partner", organisation_code="sbmi"),
        "partner_other_org": lambda: make_account("partner",
                                                  organisation_code="wcc_mawar_balqis"),
        "admin": lambda: make_account("admin"),
    }[role]()


def request_for(kind: str, operation: str, w: World) -> tuple[str, str, dict | None]:
    """(method, url, body) of one operation on the world's record of one kind."""
    person = f"/api/persons/{w.person}"
    referral = f"/api/referrals/{w.referral}"
    new_visit = {"visit_type": "sosialisasi", "visit_date": today().isoformat(),
                 "desa_code": DESA_A, "community_group_id": w.group_id}
    new_consent = {"purposes": ["pencatatan"], "notice_version": "1", "method": "centang"}
    new_person = {"name": "Warga Baru", "sex": "L", "desa_code": DESA_A,
                  "migration_status": "cpmi", "lawful_basis": "persetujuan",
                  "consent": new_consent}
    return {
        ("visit", "list"): ("get", "/api/visits", None),
        ("visit", "get"): ("get", f"/api/visits/{w.visit}", None),
        ("visit", "create"): ("post", "/api/visits", new_visit),
        ("visit", "update"): ("patch", f"/api/visits/{w.visit}", {"notes": "diubah"}),
        ("person", "list"): ("get", "/api/persons", None),
        ("person", "get"): ("get", person, None),
        ("person", "create"): ("post", "/api/persons", new_person),
        ("person", "update"): ("patch", person, {"address": "Blok Baru"}),
        ("consent", "list"): ("get", f"{person}/consents", None),
        ("consent", "get"): ("get", f"/api/consents/{w.consent}", None),
        ("consent", "create"): ("post", f"{person}/consents", new_consent),
        ("consent", "update"): ("post", f"/api/consents/{w.consent}/withdraw", None),
        ("migration_plan", "list"): ("get", f"{person}/migration-plans", None),
        ("migration_plan", "get"): ("get", f"/api/migration-plans/{w.migration_plan}", None),
        ("migration_plan", "create"): ("put", f"{person}/migration-plans",
                                       {"id": str(uuid.uuid4()), "destination_country": "HK"}),
        ("migration_plan", "update"): ("put", f"{person}/migration-plans",
                                       {"id": w.migration_plan, "destination_country": "MY"}),
        ("referral", "list"): ("get", "/api/referrals", None),
        ("referral", "get"): ("get", referral, None),
        ("referral", "create"): ("post", "/api/referrals",
                                 {"person_id": w.person, "services": ["informasi_migrasi_aman"]}),
        ("referral", "update"): ("patch", referral, {"outcome": "Sudah dibantu"}),
        ("referral_event", "list"): ("get", f"{referral}/events", None),
        ("referral_event", "create"): ("post", f"{referral}/events",
                                       {"kind": "note", "note": "Catatan"}),
    }[(kind, operation)]


def written(model) -> tuple:
    """What a write would change: the kind's rows (with their change sequences) and the
    audit entries of changes."""
    rows = db.session.execute(sa.select(model.id, model.change_seq).order_by(model.id)).all()
    changes = db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(("create", "update", "archive")))).scalar_one()
    return [tuple(r) for r in rows], changes


@pytest.mark.parametrize(("role", "row"), TABLE.items(), ids=list(TABLE))
def test_scope(client, make_account, subtests, role, row):
    world = build_world(make_account)
    headers = actor(role, world, make_account).headers
    # The operations change the world only in ways no later cell depends on.
    for kind, outcomes in zip(KINDS, row, strict=True):
        target = getattr(world, kind)
        for operation, outcome in zip(OPERATIONS, outcomes, strict=True):
            if outcome is NA:
                continue
            with subtests.test(kind=kind, operation=operation):
                method, url, body = request_for(kind, operation, world)
                db.session.expire_all()
                before = written(MODELS[kind])
                response = getattr(client, method)(url, json=body, headers=headers)
                db.session.expire_all()
                after = written(MODELS[kind])
                if operation == "list" and response.status_code == 200:
                    ids = [item["id"] for item in response.get_json()["items"]]
                    assert (S if target in ids else H) == outcome
                else:
                    assert response.status_code == outcome, response.get_json()
                if response.status_code >= 400 or method == "get":
                    assert after == before, "a refused request or a read changed records"
                elif operation == "create":
                    assert len(after[0]) == len(before[0]) + 1
                else:
                    assert after[0] != before[0] and after[1] == before[1] + 1
