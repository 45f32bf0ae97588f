"""Possible duplicates: two phones registering the same person offline are told after sync,
and a merge keeps one person with both histories, through the one write path, audited."""

import uuid

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import Consent
from server.models import MigrationPlan
from server.models import Person
from server.models import PossibleDuplicate
from server.models import Referral
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

NIK = "3209014101900001"  # a woman born 1 January 1990, registered in Waled
CONSENT = {"purposes": ["pencatatan", "rujukan_ltsa"], "notice_version": "2025-01",
           "method": "tanda_tangan", "given_at": "2026-11-01T03:00:00+00:00"}


def person(**changes) -> dict:
    return {"name": "Siti Aminah", "sex": "P", "birth_date": "1990-01-01", "nik": NIK,
            "desa_code": DESA_A, "migration_status": "calon_potensial",
            "lawful_basis": "tugas_publik"} | changes


def register(phone: Phone, **changes) -> str:
    """A person registered on the phone (with a consent when on the basis of consent)."""
    fields = person(**changes)
    person_id = phone.new("persons", fields)
    if fields["lawful_basis"] == "persetujuan":
        phone.new("consents", CONSENT | {"person_id": person_id})
    return person_id


def pulled_pairs(phone: Phone) -> dict:
    phone.sync_all()
    return {record_id: change["record"] for (entity, record_id), change in phone.records.items()
            if entity == "possible_duplicates"}


def listed(client, account) -> list:
    response = client.get("/api/persons/possible-duplicates", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def pairs() -> list:
    db.session.expire_all()
    return db.session.execute(sa.select(PossibleDuplicate).order_by(
        PossibleDuplicate.created_at)).scalars().all()


def refer(client, account, person_id: str) -> str:
    response = client.post("/api/referrals", json={"person_id": person_id,
                                                   "services": ["bantuan_hukum"]},
                           headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_two_phones_registering_the_same_nik_offline_are_told_after_sync(
        client, make_account, subtests):
    officer, member = make_account("officer"), make_account("community")
    first, second = Phone(client, officer), Phone(client, member)
    one = register(first, name="Siti Aminah")
    other = register(second, name="Siti Aminah binti Karta", lawful_basis="persetujuan")
    first.sync()
    second.sync()
    (pair,) = pairs()
    assert (pair.person_id, pair.other_person_id) == tuple(sorted((one, other)))
    assert (pair.match, pair.status) == ("nik", "open")
    readers = {
        "the desa's other officer": make_account("officer"),
        "an officer of another desa": make_account("officer", desa_code=DESA_B),
        "the community member who registered one of them": member,
        "the LTSA": make_account("ltsa"),
        "a partner": make_account("partner", organisation_code="sbmi"),
        "an admin": make_account("admin", desa_code=None),
    }
    # (stage, who is told)
    stages = [
        ("before any referral", {"the desa's other officer", "an admin"}),
        ("one of them referred", {"the desa's other officer", "an admin"}),
        ("both referred", {"the desa's other officer", "an admin", "the LTSA"}),
    ]
    phones = {who: Phone(client, account) for who, account in readers.items()}
    for stage, told in stages:
        if stage == "one of them referred":
            refer(client, officer, one)
        elif stage == "both referred":
            refer(client, officer, other)
        for who, account in readers.items():
            with subtests.test(stage=stage, who=who):
                expected = [pair.id] if who in told else []
                assert [item["id"] for item in listed(client, account)] == expected
                # The phone pulls it too (as the pair enters the LTSA's scope with the
                # second referral).
                assert list(pulled_pairs(phones[who])) == expected
    record = pulled_pairs(phones["the LTSA"])[pair.id]
    assert record == {"person_id": pair.person_id, "other_person_id": pair.other_person_id,
                      "match": "nik", "status": "open", "kept_person_id": None,
                      "created_at": record["created_at"], "resolved_at": None}


# (what, the second person, the match expected or None)
MATCHES = [
    ("the same NIK", {"name": "Aminah"}, "nik"),
    ("the same NIK in another desa", {"name": "Aminah", "desa_code": DESA_B}, "nik"),
    ("name, birth date and desa, case and spaces aside",
     {"nik": None, "name": "  siti   AMINAH "}, "name_birth_date"),
    ("the same name and birth date in another desa", {"nik": None, "desa_code": DESA_B},
     None),
    ("the same name in the desa, born another day",
     {"nik": None, "birth_date": "1990-01-02"}, None),
    ("a name typed a letter differently", {"nik": None, "name": "Siti Aminnah"},
     "name_birth_date"),
    ("a name written shorter", {"nik": None, "name": "Aminah"}, "name_birth_date"),
    ("another name, the same birth date and desa", {"nik": None, "name": "Rina Marlina"},
     None),
    ("the same name without birth dates", {"nik": None, "birth_date": None}, None),
]


@pytest.mark.parametrize(("what", "second", "match"), MATCHES, ids=[m[0] for m in MATCHES])
def test_what_makes_a_possible_duplicate(client, make_account, what, second, match):
    admin = make_account("admin", desa_code=None)
    first = person(birth_date=None) if second.get("birth_date", "x") is None else person()
    for body in (first, person(**second)):
        assert client.post("/api/persons", json=body, headers=admin.headers).status_code == 201
    assert [p.match for p in pairs()] == ([match] if match else [])


def test_no_match_with_an_archived_person_and_a_pair_closes_when_the_match_ends(
        client, make_account):
    officer = make_account("officer")
    archived = client.post("/api/persons", json=person(), headers=officer.headers).get_json()
    client.post(f"/api/persons/{archived['id']}/archive", headers=officer.headers)
    client.post("/api/persons", json=person(), headers=officer.headers)
    assert pairs() == []
    third = client.post("/api/persons", json=person(), headers=officer.headers).get_json()
    (pair,) = pairs()
    assert pair.status == "open"
    # A corrected NIK (and name) ends the match; the pair is closed, no longer listed.
    response = client.patch(f"/api/persons/{third['id']}",
                            json={"nik": None, "name": "Rina Marlina"}, headers=officer.headers)
    assert response.status_code == 200, response.get_json()
    assert [p.status for p in pairs()] == ["closed"]
    assert listed(client, officer) == []
    # Back as it was: open again.
    client.patch(f"/api/persons/{third['id']}", json={"nik": NIK}, headers=officer.headers)
    assert [p.status for p in pairs()] == ["open"]


def _pair_with_histories(client, officer, phone):
    """Two registrations of one person; the second has a referral, a consent and a plan."""
    kept = register(phone)
    other = register(phone, name="Siti")
    phone.new("consents", CONSENT | {"person_id": other})
    # A withdrawn consent changes no more, but for the merge's move.
    phone.new("consents", CONSENT | {"person_id": other,
                                     "withdrawn_at": "2026-11-02T03:00:00+00:00"})
    phone.new("migration_plans", {"person_id": other, "destination_country": "MY"})
    referral = phone.new("referrals", {"person_id": other, "services": ["bantuan_hukum"]})
    answer = phone.sync()
    assert answer["refused"] == [], answer["refused"]
    (pair,) = pairs()
    return pair.id, kept, other, referral


@pytest.mark.parametrize("role", ["officer", "ltsa", "admin"])
def test_a_merge_keeps_one_person_with_both_histories(client, make_account, role):
    officer = make_account("officer")
    phone = Phone(client, officer)
    pair_id, kept, other, referral = _pair_with_histories(client, officer, phone)
    merger = {"officer": officer, "ltsa": make_account("ltsa"),
              "admin": make_account("admin", desa_code=None)}[role]
    if role == "ltsa":
        refer(client, officer, kept)  # the LTSA reads both persons through their referrals
    merger_phone = Phone(client, merger)
    assert pulled_pairs(merger_phone)[pair_id]["status"] == "open"
    response = client.post(f"/api/possible-duplicates/{pair_id}/merge", json={"keep": kept},
                           headers=merger.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["kept_person_id"]) == ("merged", kept)
    assert body["moved"]["referrals"] == [referral]
    db.session.expire_all()
    for model in (Referral, Consent, MigrationPlan):
        assert db.session.execute(sa.select(sa.func.count()).select_from(model).where(
            model.person_id == other)).scalar_one() == 0
    assert db.session.get(Referral, referral).person_id == kept
    merged = db.session.get(Person, other)
    assert merged.archived_at is not None and merged.merged_into_id == kept
    (entry,) = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "merge")).scalars()
    assert entry.user_id == merger.user_id and entry.entity_id == pair_id
    assert sorted(entry.detail["person_ids"]) == sorted((kept, other))
    assert entry.detail["kept"] == kept
    # The phone pulls every moved record, the archived person and the resolved pair.
    phone.sync_all()
    assert phone.record("referrals", referral)["person_id"] == kept
    moved = [change["record"] for (entity, _), change in phone.records.items()
             if entity in ("consents", "migration_plans")]
    assert len(moved) == 3 and {record["person_id"] for record in moved} == {kept}
    archived = phone.records[("persons", other)]
    assert archived["record"]["archived_at"] is not None
    assert archived["derived"] == {"merged_into_id": kept}
    assert phone.record("possible_duplicates", pair_id)["status"] == "merged"
    # Also where the person merged away left the reader's scope with their referrals.
    assert pulled_pairs(merger_phone)[pair_id]["status"] == "merged"
    # The person merged away stays archived: no phone brings them back.
    phone.edit("persons", other, {"archived_at": None})
    (refusal,) = phone.sync()["refused"]
    assert refusal["reason"] == "archived"
    # Resolved once: a second merge is a conflict.
    again = client.post(f"/api/possible-duplicates/{pair_id}/merge", json={"keep": kept},
                        headers=merger.headers)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "conflict")


def test_a_referral_merged_into_another_desa_follows_the_kept_person(client, make_account):
    admin = make_account("admin", desa_code=None)
    there = client.post("/api/persons", json=person(desa_code=DESA_B),
                        headers=admin.headers).get_json()
    here = client.post("/api/persons", json=person(), headers=admin.headers).get_json()
    referral = refer(client, admin, here["id"])
    (pair,) = pairs()
    officer_b = Phone(client, make_account("officer", desa_code=DESA_B))
    officer_b.sync_all()
    response = client.post(f"/api/possible-duplicates/{pair.id}/merge",
                           json={"keep": there["id"]}, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    officer_b.sync_all()
    change = officer_b.records[("referrals", referral)]
    assert change["record"]["person_id"] == there["id"]
    assert change["derived"]["desa_code"] == DESA_B
    events = [key for key in officer_b.records if key[0] == "referral_events"]
    assert len(events) == 1


# (what, entity, the fields of a plain phone edit moving it to another person)
MOVES = [
    ("a consent", "consents"),
    ("a migration plan", "migration_plans"),
    ("a referral", "referrals"),
]


@pytest.mark.parametrize(("what", "entity"), MOVES, ids=[m[0] for m in MOVES])
def test_a_plain_edit_still_cannot_move_a_record_to_another_person(client, make_account,
                                                                   what, entity):
    officer = make_account("officer")
    phone = Phone(client, officer)
    pair_id, kept, other, referral = _pair_with_histories(client, officer, phone)
    phone.sync_all()
    record_id = referral if entity == "referrals" else next(
        record_id for (name, record_id), change in phone.records.items()
        if name == entity and change["record"]["person_id"] == other
        and not change["record"].get("withdrawn_at"))
    phone.edit(entity, record_id, {"person_id": kept})
    answer = phone.sync()
    (refusal,) = answer["refused"]
    assert refusal["reason"] == "invalid" and "person_id" in refusal["fields"]
    db.session.expire_all()
    model = {"consents": Consent, "migration_plans": MigrationPlan, "referrals": Referral}[entity]
    assert db.session.get(model, record_id).person_id == other


def test_dismiss_closes_the_pair_for_good(client, make_account):
    officer = make_account("officer")
    first = client.post("/api/persons", json=person(), headers=officer.headers).get_json()
    client.post("/api/persons", json=person(), headers=officer.headers)
    (pair,) = pairs()
    (item,) = client.get(f"/api/persons/possible-duplicates?person_id={first['id']}",
                         headers=officer.headers).get_json()["items"]
    assert item["id"] == pair.id and item["match"] == "nik"
    assert {item["person"]["id"], item["other_person"]["id"]} == {pair.person_id,
                                                                  pair.other_person_id}
    response = client.post(f"/api/possible-duplicates/{pair.id}/dismiss",
                           headers=officer.headers)
    assert response.status_code == 200 and response.get_json()["status"] == "dismissed"
    assert listed(client, officer) == []
    assert client.get(f"/api/persons/possible-duplicates?person_id={first['id']}",
                      headers=officer.headers).get_json() == {"items": []}
    # Written again, the person is not flagged again with the same other person.
    client.patch(f"/api/persons/{first['id']}", json={"address": "Blok Manis"},
                 headers=officer.headers)
    assert [p.status for p in pairs()] == ["dismissed"]
    (entry,) = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "dismiss")).scalars()
    assert entry.entity_id == pair.id
    again = client.post(f"/api/possible-duplicates/{pair.id}/dismiss", headers=officer.headers)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "conflict")


# (who, action, body, status, code)
REFUSALS = [
    ("officer of another desa", "merge", "kept", 404, "not_found"),
    ("officer of another desa", "dismiss", None, 404, "not_found"),
    ("community member who registered one", "merge", "kept", 404, "not_found"),
    ("partner", "dismiss", None, 404, "not_found"),
    ("the desa's officer", "merge", "stranger", 422, "invalid"),
    ("the desa's officer", "merge", None, 422, "invalid"),
]


@pytest.mark.parametrize(("who", "action", "keep", "status", "code"), REFUSALS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in REFUSALS])
def test_who_may_not_resolve_a_pair(client, make_account, who, action, keep, status, code):
    officer, member = make_account("officer"), make_account("community")
    first, registrar = Phone(client, officer), Phone(client, member)
    kept = register(first)
    register(registrar, lawful_basis="persetujuan")
    first.sync()
    registrar.sync()
    (pair,) = pairs()
    account = {"officer of another desa": make_account("officer", desa_code=DESA_B),
               "community member who registered one": member,
               "partner": make_account("partner", organisation_code="sbmi"),
               "the desa's officer": officer}[who]
    body = {} if keep is None else {"keep": {"kept": kept, "stranger": str(uuid.uuid4())}[keep]}
    response = client.post(f"/api/possible-duplicates/{pair.id}/{action}",
                           json=body, headers=account.headers)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    if status == 422:
        assert "keep" in error["fields"]
    assert [p.status for p in pairs()] == ["open"]
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Person).where(
        Person.archived_at.is_not(None))).scalar_one() == 0
