"""Scope through sync is the API's scope: a pull from cursor 0 holds exactly what the REST
API lets the same user read, and a push outside the user's scope writes nothing.

The data: the demo dataset (three desa, a community group in Gebang Kulon, referrals
forwarded to SBMI and to WCC), plus, made through sync, a community group of desa A with
its visit, person, consent, plan and referral, and conflicts on records of different
scopes (a visit in A, a visit of the Gebang group, a person in A, a referral forwarded to
SBMI).
"""

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from server.demo import DEMO_PASSWORD
from server.demo import DESA as DEMO_DESA
from server.demo import load_demo
from server.extensions import db
from server.models import ConflictEntry
from server.models import Consent
from server.models import MigrationPlan
from server.models import Organisation
from server.models import OutreachVisit
from server.models import Person
from server.models import Referral
from server.models import ReferralEvent
from server.sync_registry import build_registry
from sync import hlc
from sync import sequence
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.conftest import Account
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

TODAY = dt.date(2026, 3, 10)
GIVEN_AT = "2026-03-11T02:00:00+00:00"
ENTITIES = ("visits", "persons", "consents", "migration_plans", "referrals", "referral_events")
MODELS = {"visits": OutreachVisit, "persons": Person, "consents": Consent,
          "migration_plans": MigrationPlan, "referrals": Referral,
          "referral_events": ReferralEvent}
# Label, and the demo account (or None: the community member of desa A made here).
ROLES = [
    ("officer A", "perangkat.waled"),
    ("officer B", "perangkat.gebang"),
    ("community member of a group in A", None),
    ("another community member (Gebang group)", "pokmas.gebang2"),
    ("ltsa", "ltsa.cirebon"),
    ("partner sbmi", "mitra.sbmi"),
    ("partner wcc", "mitra.wcc"),
    ("admin", "admin.demo"),
]
PERSON = {"name": "Rokayah", "sex": "P", "birth_date": "1995-06-01", "desa_code": DESA_A,
          "migration_status": "calon_potensial", "lawful_basis": "persetujuan",
          "address": "Blok Wage RT 03"}


@dataclass
class World:
    accounts: dict[str, Account]


def login(client, username: str) -> Account:
    response = client.post("/api/auth/login",
                           json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return Account(body["user"]["id"], username, body["user"]["role"], body["token"])


def concurrent_edit(client, a: Account, b: Account, entity: str, record_id: str,
                    field: str) -> None:
    """Two phones that both hold the record change one field offline: a conflict."""
    phones = [Phone(client, a, wall_ms=hlc.wall_clock_ms()),
              Phone(client, b, wall_ms=hlc.wall_clock_ms())]
    for phone in phones:
        phone.sync_all()
        assert (entity, record_id) in phone.records, (phone.account.username, entity)
    for i, phone in enumerate(phones):
        phone.edit(entity, record_id, {field: f"{field} dari {phone.account.username} {i}"})
    for phone in phones:
        answer = phone.sync()
        assert answer["applied"] == [1], answer["refused"]


@pytest.fixture
def world(app, client, make_account) -> World:
    load_demo(db.session, today=TODAY)
    db.session.commit()
    accounts = {label: login(client, username) for label, username in ROLES if username}
    # A community group of desa A, through sync: a visit, a person who consents to be
    # referred, their plan, and the referral.
    member = make_account("community", desa_code=DESA_A)
    accounts["community member of a group in A"] = member
    phone = Phone(client, member, wall_ms=hlc.wall_clock_ms())
    visit_a = phone.new("visits", VISIT)
    person = phone.new("persons", PERSON)
    phone.new("consents", {"person_id": person, "purposes": ["pencatatan", "rujukan_ltsa"],
                           "notice_version": "2024-10", "method": "centang",
                           "given_at": GIVEN_AT})
    phone.new("migration_plans", {"person_id": person, "destination_country": "TW",
                                  "agency_name": "PT Maju"})
    phone.new("referrals", {"person_id": person, "services": ["informasi_migrasi_aman"],
                            "reason": "Ditawari calo"})
    answer = phone.sync()
    assert answer["refused"] == [] and len(answer["applied"]) == 5
    # Conflicts in different scopes.
    concurrent_edit(client, accounts["officer A"], member, "visits", visit_a, "notes")
    gebang_visit = db.session.execute(sa.select(OutreachVisit.id).where(
        OutreachVisit.desa_code == DEMO_DESA["gebang"],
        OutreachVisit.community_group_id.is_not(None)).order_by(OutreachVisit.id).limit(1)
    ).scalar_one()
    concurrent_edit(client, accounts["officer B"],
                    accounts["another community member (Gebang group)"], "visits",
                    gebang_visit, "notes")
    # A person of desa A never referred: only the desa's side and the admin see it.
    person_a = db.session.execute(sa.select(Person.id).where(
        Person.desa_code == DESA_A, Person.created_by_id != member.user_id,
        ~sa.exists().where(Referral.person_id == Person.id)).order_by(Person.id).limit(1)
    ).scalar_one()
    concurrent_edit(client, accounts["officer A"], accounts["admin"], "persons", person_a,
                    "address")
    sbmi = db.session.execute(sa.select(Organisation.id).where(Organisation.code == "sbmi")
                              ).scalar_one()
    forwarded = db.session.execute(sa.select(Referral.id).where(
        Referral.assigned_organisation_id == sbmi).order_by(Referral.id).limit(1)).scalar_one()
    concurrent_edit(client, accounts["ltsa"], accounts["partner sbmi"], "referrals",
                    forwarded, "outcome")
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(ConflictEntry)
                              ).scalar_one() == 4
    return World(accounts)


def pull_everything(client, account: Account) -> tuple[dict[str, set[str]], dict[str, dict]]:
    """A fresh phone of the account pulls from cursor 0 until there is no more."""
    phone = Phone(client, account)
    answer = phone.sync_all(pull_limit=150)
    assert answer["reset"] is None
    pulled = {entity: set() for entity in ENTITIES}
    for entity, record_id in phone.records:
        pulled[entity].add(record_id)
    return pulled, phone.conflicts


def get_all(client, account: Account, url: str) -> list[dict]:
    """Every item of a paged list."""
    items, page = [], 1
    while True:
        sep = "&" if "?" in url else "?"
        response = client.get(f"{url}{sep}page={page}&per_page=200", headers=account.headers)
        assert response.status_code == 200, (url, response.get_json())
        body = response.get_json()
        items += body["items"]
        if page * body["per_page"] >= body["total"]:
            return items
        page += 1


def rest_view(client, account: Account) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """What the REST API lists for the account, entity by entity; and each listed
    referral's events."""
    seen = {entity: set() for entity in ENTITIES}
    seen["visits"] = {v["id"] for v in get_all(client, account, "/api/visits")}
    persons = {p["id"] for p in get_all(client, account, "/api/persons?include_archived=true")}
    seen["persons"] = persons
    for person_id in persons:
        for entity, path in (("consents", "consents"), ("migration_plans", "migration-plans")):
            response = client.get(f"/api/persons/{person_id}/{path}", headers=account.headers)
            assert response.status_code == 200
            seen[entity] |= {item["id"] for item in response.get_json()["items"]}
    seen["referrals"] = {r["id"] for r in get_all(client, account, "/api/referrals")}
    events = {}
    for referral_id in seen["referrals"]:
        response = client.get(f"/api/referrals/{referral_id}/events", headers=account.headers)
        assert response.status_code == 200
        events[referral_id] = {e["id"] for e in response.get_json()["items"]}
        seen["referral_events"] |= events[referral_id]
    return seen, events


def rest_can_get(client, account: Account, entity: str, record_id: str,
                 events: dict[str, set[str]]) -> bool:
    """True if the REST API answers 200 for the record to the account (an event: in its
    referral's history, as answered to the account)."""
    if entity == "referral_events":
        referral_id = db.session.get(ReferralEvent, record_id).referral_id
        if referral_id not in events:
            response = client.get(f"/api/referrals/{referral_id}/events",
                                  headers=account.headers)
            events[referral_id] = ({e["id"] for e in response.get_json()["items"]}
                                   if response.status_code == 200 else set())
        return record_id in events[referral_id]
    path = {"visits": "visits", "persons": "persons", "consents": "consents",
            "migration_plans": "migration-plans", "referrals": "referrals"}[entity]
    return client.get(f"/api/{path}/{record_id}", headers=account.headers).status_code == 200


def test_a_pull_from_zero_holds_exactly_what_the_api_lets_each_role_read(client, world):
    problems: dict[str, list] = {}
    seen = {}
    conflicts = {c.id: c for c in db.session.execute(sa.select(ConflictEntry)).scalars()}
    everything = {entity: set(db.session.execute(sa.select(model.id)).scalars())
                  for entity, model in MODELS.items()}
    for label, _ in ROLES:
        account = world.accounts[label]
        pulled, pulled_conflicts = pull_everything(client, account)
        seen[label] = (pulled, pulled_conflicts)
        listed, events = rest_view(client, account)
        found = []
        for entity in ENTITIES:
            for record_id in sorted(pulled[entity]):
                if not rest_can_get(client, account, entity, record_id, events):
                    found.append(f"pulled but not readable: {entity} {record_id}")
            for record_id in sorted(listed[entity] - pulled[entity]):
                found.append(f"listed by the API but not pulled: {entity} {record_id}")
        rest_conflicts = {c["id"] for c in get_all(client, account, "/api/conflicts")}
        if set(pulled_conflicts) != rest_conflicts:
            found.append(f"conflicts pulled {sorted(pulled_conflicts)} != listed "
                         f"{sorted(rest_conflicts)}")
        for conflict_id, conflict in conflicts.items():
            readable = conflict.record_id in pulled[conflict.entity]
            if readable != (conflict_id in pulled_conflicts):
                found.append(f"conflict on {conflict.entity} {conflict.record_id}: record "
                             f"readable {readable}, conflict pulled {not readable}")
        if found:
            problems[label] = found
        if label == "admin":
            assert pulled == everything
    assert problems == {}
    # The table is not vacuous: the roles see different parts, each with something in it.
    assert all(seen[label][0]["referrals"] and seen[label][0]["persons"] for label, _ in ROLES)
    counts = {label: sum(len(ids) for ids in pulled.values())
              for label, (pulled, _) in seen.items()}
    assert len(set(counts.values())) >= 6, counts
    assert all(seen[label][1] for label in ("officer A", "officer B", "ltsa", "partner sbmi",
                                            "admin")), "every one of these sees a conflict"
    assert not seen["partner wcc"][1]


def snapshot() -> dict:
    """Every synced row, field by field with its bookkeeping, and every conflict."""
    db.session.expire_all()
    registry = build_registry()
    rows = {}
    for entity, spec in registry.items():
        for row in db.session.execute(sa.select(spec.model)).scalars():
            rows[(entity, row.id)] = (spec.dump(row), row.field_clocks, row.sync_meta,
                                      row.deleted_hlc, row.change_seq)
    conflicts = sorted((c.id, c.record_id, c.field, c.change_seq) for c in
                       db.session.execute(sa.select(ConflictEntry)).scalars())
    return {"rows": rows, "conflicts": conflicts,
            "high_water": sequence.high_water(db.session)}


def outside(pulled: dict[str, set[str]], entity: str) -> str | None:
    """A record of the entity that the role cannot read, if there is one."""
    ids = sorted(set(db.session.execute(sa.select(MODELS[entity].id)).scalars())
                 - pulled[entity])
    return ids[0] if ids else None


def outside_mutations(pulled: dict[str, set[str]], role: str) -> list[tuple]:
    """(what, entity, id, op, fields) for each kind of record outside the role's scope."""
    other_desa = DESA_B
    out = []
    visit = outside(pulled, "visits")
    if visit is None and role != "admin":
        # LTSA reads every visit but may change none.
        visit = sorted(pulled["visits"])[0]
    if visit:
        out.append(("change a visit", "visits", visit, "upsert", {"notes": "dari luar"}))
    out.append(("record a visit in another desa", "visits", str(uuid.uuid4()), "upsert",
                dict(VISIT, desa_code=other_desa)))
    person = outside(pulled, "persons")
    if person:
        out.append(("change a person", "persons", person, "upsert",
                    {"address": "Alamat dari luar"}))
        for entity, fields in (
            ("consents", {"purposes": ["pencatatan"], "notice_version": "2024-10",
                          "method": "centang", "given_at": GIVEN_AT}),
            ("migration_plans", {"destination_country": "MY", "agency_name": "PT Luar"}),
            ("referrals", {"services": ["bantuan_hukum"], "reason": "dari luar"}),
        ):
            out.append((f"add a {entity} record to a person out of scope", entity,
                        str(uuid.uuid4()), "upsert", dict(fields, person_id=person)))
    out.append(("register a person in another desa", "persons", str(uuid.uuid4()), "upsert",
                {"name": "Orang Luar", "sex": "P", "desa_code": other_desa,
                 "migration_status": "cpmi", "lawful_basis": "persetujuan"}))
    for entity, fields in (("consents", {"notice_version": "9"}),
                           ("migration_plans", {"agency_name": "PT Luar"}),
                           ("referrals", {"urgency": "darurat"})):
        record_id = outside(pulled, entity)
        if record_id:
            out.append((f"change a {entity} record", entity, record_id, "upsert", fields))
    if outside(pulled, "referrals") is None and role in ("ltsa", "partner"):
        # The desk reads every referral sent to it, but not the village's description.
        out.append(("change the reason of a referral", "referrals", sorted(
            pulled["referrals"])[0], "upsert", {"reason": "diubah meja LTSA"}))
    referral = outside(pulled, "referrals")
    if referral:
        out.append(("add to the history of a referral out of scope", "referral_events",
                    str(uuid.uuid4()), "insert",
                    {"referral_id": referral, "kind": "note", "note": "dari luar"}))
    return out


def test_a_mutation_outside_the_scope_is_refused_and_writes_nothing(client, world):
    """For each role but the admin (who has no outside), one mutation for each kind of
    record it may not read, or may read but not change: each is refused by id, nothing of
    any is written, and the batch counts as handled."""
    problems: dict[str, list] = {}
    for label, _ in ROLES:
        if label == "admin":
            continue
        account = world.accounts[label]
        pulled, _ = pull_everything(client, account)
        cases = outside_mutations(pulled, account.role)
        entities = {entity for _, entity, *_ in cases}
        expected = set(ENTITIES) - ({"referral_events"} if label == "ltsa" else set())
        assert entities == expected, f"{label}: a kind of record with nothing outside"
        before = snapshot()
        phone = Phone(client, account)
        for _, entity, record_id, op, fields in cases:
            phone.edit(entity, record_id, fields, op=op)
        answer = phone.sync()
        refused = {r["mutation_id"]: r["reason"] for r in answer["refused"]}
        found = [f"{what}: {'applied' if mid in answer['applied'] else refused.get(mid)}"
                 for mid, (what, *_) in enumerate(cases, start=1)
                 if refused.get(mid) not in ("not_found", "forbidden")]
        after = snapshot()
        found += [f"written: {key}" for key in sorted(set(before["rows"]) | set(after["rows"]))
                  if before["rows"].get(key) != after["rows"].get(key)]
        if after["conflicts"] != before["conflicts"]:
            found.append("conflicts written")
        if after["high_water"] != before["high_water"]:
            found.append(f"change sequence moved: {before['high_water']} -> "
                         f"{after['high_water']}")
        # The refusals are handled (the phone keeps them for the user), not retried forever.
        if answer["last_mutation_id"] != len(cases) or phone.outbox:
            found.append(f"not acknowledged: {answer['last_mutation_id']}")
        if found:
            problems[label] = found
    assert problems == {}
