"""Persons, their consents and migration plans through the JSON API."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import Consent
from server.models import MigrationPlan
from server.models import Person
from server.schemas.records import today
from tests.conftest import DESA_A
from tests.conftest import DESA_B

pytestmark = pytest.mark.usefixtures("fast_passwords")

ADULT_BIRTH = "1990-01-01"
ADULT_NIK = "3209014101900001"  # a woman born 1 January 1990, registered in Waled


def years_ago(years: int, days: int = 0) -> str:
    day = today()
    return (day.replace(year=day.year - years) - dt.timedelta(days=days)).isoformat()


def consent(**changes) -> dict:
    return {"purposes": ["pencatatan", "rujukan_ltsa"], "notice_version": "2025-01",
            "method": "tanda_tangan"} | changes


def person(**changes) -> dict:
    return {"name": "Siti Aminah", "sex": "P", "birth_date": ADULT_BIRTH, "nik": ADULT_NIK,
            "phone": "0812-3456-7890", "desa_code": DESA_A, "address": "Blok Pahing",
            "migration_status": "calon_potensial", "lawful_basis": "tugas_publik"} | changes


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def audit_trail(entity: str) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(
        sa.select(AuditEntry.action, AuditEntry.entity_id).where(AuditEntry.entity == entity)
        .order_by(AuditEntry.id))]


def test_officer_registers_a_person_on_public_task(client, make_account):
    officer = make_account("officer")
    response = client.post("/api/persons", json=person(), headers=officer.headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["phone"] == "+6281234567890"
    assert body["age"] == dt.date.today().year - 1990 - (
        (dt.date.today().month, dt.date.today().day) < (1, 1))
    assert body["is_child"] is False
    assert body["warnings"] == []
    assert (body["sex_label"], body["lawful_basis_label"]) == ("Perempuan",
                                                               "Pelaksanaan tugas publik")
    assert body["archived_at"] is None
    assert audit_trail("person") == [("create", body["id"])]
    assert count(Consent) == 0


def test_consent_basis_needs_the_consent_in_the_same_request(client, make_account):
    officer = make_account("officer")
    missing = client.post("/api/persons", json=person(lawful_basis="persetujuan"),
                          headers=officer.headers)
    assert missing.status_code == 422
    assert missing.get_json()["error"]["fields"]["consent"][0]["en"].startswith(
        "Lawful basis persetujuan")
    assert count(Person) == 0

    response = client.post("/api/persons", json=person(lawful_basis="persetujuan",
                                                       consent=consent()),
                           headers=officer.headers)
    assert response.status_code == 201
    stored = db.session.execute(sa.select(Consent)).scalar_one()
    assert stored.person_id == response.get_json()["id"]
    assert stored.given_at is not None and stored.withdrawn_at is None
    assert [a for a, _ in audit_trail("consent")] == ["create"]


def test_community_members_must_use_consent(client, make_account):
    member = make_account("community")
    refused = client.post("/api/persons", json=person(consent=consent()), headers=member.headers)
    assert refused.status_code == 422
    assert "lawful_basis" in refused.get_json()["error"]["fields"]
    accepted = client.post("/api/persons", json=person(lawful_basis="persetujuan",
                                                       consent=consent()),
                           headers=member.headers)
    assert accepted.status_code == 201
    assert accepted.get_json()["community_group_id"] is not None
    assert count(Person) == 1


def test_a_child_needs_a_guardian_in_the_consent(client, make_account):
    member = make_account("community")
    child = person(birth_date=years_ago(17, days=300), nik=None, lawful_basis="persetujuan",
                   consent=consent())
    refused = client.post("/api/persons", json=child, headers=member.headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["consent"]["guardian_name"][0]["id"]
    assert count(Person) == count(Consent) == 0

    child["consent"] = consent(guardian_name="Ibu Karsih", guardian_relation="ibu")
    response = client.post("/api/persons", json=child, headers=member.headers)
    assert response.status_code == 201
    assert response.get_json()["is_child"] is True
    # 18 today is an adult.
    adult = person(birth_date=years_ago(18), nik=None, lawful_basis="persetujuan",
                   consent=consent())
    response = client.post("/api/persons", json=adult, headers=member.headers)
    assert response.status_code == 201 and response.get_json()["is_child"] is False


INVALID_PERSONS = [
    ({"nik": "32090141019000"}, "nik", "A NIK has 16 digits (this has 14)."),
    ({"nik": "0009014101900001"}, "nik", "The region code in the NIK"),
    ({"nik": "3209019913900001"}, "nik", "The birth date in the NIK"),
    ({"nik": "3209014101900000"}, "nik", "The NIK serial"),
    ({"phone": "0231-123456"}, "phone", "Not an Indonesian mobile number"),
    ({"phone": "0812"}, "phone", "A mobile number has 10–13 digits"),
    ({"sex": "X"}, "sex", "Must be one of: L, P."),
    ({"birth_date": "2090-01-01"}, "birth_date", "The date cannot be in the future."),
    ({"birth_date": "1850-01-01"}, "birth_date", "Must be greater than or equal to"),
    ({"desa_code": "32.09"}, "desa_code", "Choose a desa/kelurahan"),
    ({"name": "   "}, "name", "Length must be between 1 and 120."),
    ({"migration_status": "tki"}, "migration_status", "Must be one of:"),
    ({"lawful_basis": None}, "lawful_basis", "Field may not be null."),
    ({"age": 30}, "age", "Unknown field."),
    ({"disability": "kadang"}, "disability", "Not a valid boolean."),
]


def test_invalid_person_is_refused_naming_the_field(client, make_account, subtests):
    officer = make_account("officer")
    for changes, field, en in INVALID_PERSONS:
        with subtests.test(changes=changes):
            response = client.post("/api/persons", json=person(**changes),
                                   headers=officer.headers)
            assert response.status_code == 422
            (message,) = response.get_json()["error"]["fields"][field]
            assert message["en"].startswith(en), message
            assert message["id"] and message["id"] != message["en"]
    assert count(Person) == 0


@pytest.mark.parametrize(("changes", "expected"), [
    ({"sex": "L"}, ["The NIK says female"]),
    ({"birth_date": "1990-02-01"}, ["The birth date in the NIK differs"]),
    ({"nik": "3174014101900001"}, ["first registered outside Kabupaten Cirebon"]),
])
def test_nik_disagreements_are_warnings_not_errors(client, make_account, changes, expected):
    officer = make_account("officer")
    response = client.post("/api/persons", json=person(**changes), headers=officer.headers)
    assert response.status_code == 201
    warnings = response.get_json()["warnings"]
    assert [w["field"] for w in warnings] == ["nik"] * len(expected)
    assert all(text in w["en"] and w["id"] for w, text in zip(warnings, expected, strict=True))


def test_second_person_with_the_same_nik_is_a_warning(client, make_account):
    officer = make_account("officer")
    client.post("/api/persons", json=person(), headers=officer.headers)
    second = client.post("/api/persons", json=person(name="Siti A."), headers=officer.headers)
    assert second.status_code == 201
    (warning,) = second.get_json()["warnings"]
    assert "already recorded for 1 other" in warning["en"]


def test_reading_a_person_is_audited(client, make_account):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(), headers=officer.headers
                            ).get_json()["id"]
    body = client.get(f"/api/persons/{person_id}", headers=officer.headers).get_json()
    assert body["name"] == "Siti Aminah" and "warnings" not in body
    assert audit_trail("person") == [("create", person_id), ("read", person_id)]
    listed = client.get("/api/persons", headers=officer.headers).get_json()
    assert [p["id"] for p in listed["items"]] == [person_id]
    entry = db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).scalars(
    ).first()
    assert (entry.action, entry.entity, entry.detail) == ("read", "person", {"ids": [person_id]})


def test_list_filters(client, make_account):
    officer = make_account("officer")
    post = lambda **c: client.post("/api/persons", json=person(nik=None, **c),  # noqa: E731
                                   headers=officer.headers).get_json()["id"]
    siti = post()
    budi = post(name="Budi Santoso", sex="L", migration_status="purna_pmi")
    anak = post(name="Ani", birth_date=years_ago(15))
    archived = post(name="Dewi")
    client.post(f"/api/persons/{archived}/archive", headers=officer.headers)

    def ids(query=""):
        items = client.get(f"/api/persons?{query}", headers=officer.headers).get_json()["items"]
        return {p["id"] for p in items}

    assert ids() == {siti, budi, anak}
    assert ids("include_archived=true") == {siti, budi, anak, archived}
    assert ids("q=SANTO") == {budi}
    assert ids("migration_status=purna_pmi") == {budi}
    assert ids("is_child=true") == {anak}
    assert ids("is_child=false") == {siti, budi}
    assert ids(f"desa_code={DESA_B}") == set()


def test_archive_keeps_the_person_and_stops_changes(client, make_account):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(), headers=officer.headers
                            ).get_json()["id"]
    first = client.post(f"/api/persons/{person_id}/archive", headers=officer.headers)
    assert first.status_code == 200 and first.get_json()["archived_at"]
    again = client.post(f"/api/persons/{person_id}/archive", headers=officer.headers)
    assert again.get_json()["archived_at"] == first.get_json()["archived_at"]
    assert [a for a, _ in audit_trail("person")] == ["create", "archive"]
    patch = client.patch(f"/api/persons/{person_id}", json={"name": "X"},
                         headers=officer.headers)
    assert patch.status_code == 409
    assert client.get(f"/api/persons/{person_id}", headers=officer.headers).status_code == 200
    assert count(Person) == 1


def test_patch_validates_and_warns(client, make_account):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(), headers=officer.headers
                            ).get_json()["id"]
    url = f"/api/persons/{person_id}"
    response = client.patch(url, json={"phone": "+62 857 1111 2222", "sex": "L"},
                            headers=officer.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["phone"] == "+6285711112222"
    assert ["The NIK says female" in w["en"] for w in body["warnings"]] == [True]
    bad = client.patch(url, json={"phone": "12", "name": "Baru"}, headers=officer.headers)
    assert bad.status_code == 422
    db.session.expire_all()
    assert db.session.get(Person, person_id).name == "Siti Aminah"
    # Switching to consent needs a consent on record first.
    to_consent = client.patch(url, json={"lawful_basis": "persetujuan"}, headers=officer.headers)
    assert to_consent.status_code == 422
    client.post(f"{url}/consents", json=consent(), headers=officer.headers)
    assert client.patch(url, json={"lawful_basis": "persetujuan"},
                        headers=officer.headers).status_code == 200
    assert [a for a, _ in audit_trail("person")] == ["create", "update", "update"]


def test_duplicate_candidates_within_scope(client, make_account):
    officer = make_account("officer")
    elsewhere = make_account("officer", desa_code=DESA_B)
    mine = client.post("/api/persons", json=person(name="Siti  Aminah Binti Karta"),
                       headers=officer.headers).get_json()["id"]
    client.post("/api/persons", json=person(desa_code=DESA_B), headers=elsewhere.headers)

    def found(query, account=officer):
        response = client.post("/api/persons/duplicates", json=query, headers=account.headers)
        assert response.status_code == 200, response.get_json()
        return [(i["match"], i["person"]["id"]) for i in response.get_json()["items"]]

    assert found({"nik": ADULT_NIK}) == [("nik", mine)]
    assert found({"name": "siti aminah", "birth_date": ADULT_BIRTH}) == [
        ("name_birth_date", mine)]
    assert found({"name": "Siti Aminat binti Karta", "birth_date": ADULT_BIRTH,
                  "desa_code": DESA_A}) == [("name_birth_date", mine)]
    assert found({"name": "Siti Aminah", "birth_date": "1991-01-01"}) == []
    assert found({"name": "Rina", "birth_date": ADULT_BIRTH}) == []
    # The other desa's person with the same NIK is not theirs to see.
    assert len(found({"nik": ADULT_NIK}, elsewhere)) == 1
    response = client.post("/api/persons/duplicates", json={"name": "Siti"},
                           headers=officer.headers)
    assert response.status_code == 422 and "nik" in response.get_json()["error"]["fields"]
    # The NIK never goes in a URL: the check is a POST only (a GET is the person "duplicates").
    from flask import current_app

    methods = {m for rule in current_app.url_map.iter_rules()
               if rule.rule == "/api/persons/duplicates" for m in rule.methods}
    assert "POST" in methods and "GET" not in methods


def test_consents_are_added_listed_and_withdrawn(client, make_account):
    officer = make_account("officer")
    child_id = client.post("/api/persons", json=person(nik=None, birth_date=years_ago(10)),
                           headers=officer.headers).get_json()["id"]
    url = f"/api/persons/{child_id}/consents"
    refused = client.post(url, json=consent(), headers=officer.headers)
    assert refused.status_code == 422 and "guardian_name" in refused.get_json()["error"]["fields"]
    bad = client.post(url, json=consent(purposes=[], method="lisan"), headers=officer.headers)
    assert set(bad.get_json()["error"]["fields"]) == {"purposes", "method"}
    given = client.post(url, json=consent(guardian_name="Pak Darma"), headers=officer.headers)
    assert given.status_code == 201
    consent_id = given.get_json()["id"]
    assert given.get_json()["active"] is True

    listed = client.get(url, headers=officer.headers).get_json()["items"]
    assert [c["id"] for c in listed] == [consent_id]
    withdrawn = client.post(f"/api/consents/{consent_id}/withdraw", headers=officer.headers)
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["active"] is False and withdrawn.get_json()["withdrawn_at"]
    again = client.post(f"/api/consents/{consent_id}/withdraw", headers=officer.headers)
    assert again.get_json()["withdrawn_at"] == withdrawn.get_json()["withdrawn_at"]
    assert [a for a, _ in audit_trail("consent")] == ["create", "read", "update"]
    assert count(Consent) == 1


def test_consent_times_are_checked(client, make_account):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(), headers=officer.headers
                            ).get_json()["id"]
    url = f"/api/persons/{person_id}/consents"
    future = client.post(url, json=consent(given_at="2999-01-01T00:00:00+07:00"),
                         headers=officer.headers)
    assert "given_at" in future.get_json()["error"]["fields"]
    early = client.post(url, json=consent(given_at="2025-03-01T09:00:00+07:00",
                                          keep_until="2025-01-01"), headers=officer.headers)
    assert "keep_until" in early.get_json()["error"]["fields"]
    naive = client.post(url, json=consent(given_at="2025-03-01T09:00:00"),
                        headers=officer.headers)
    assert naive.status_code == 201
    assert naive.get_json()["given_at"] == "2025-03-01T09:00:00+00:00"


def test_migration_plan_is_put_and_replaced(client, make_account):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(), headers=officer.headers
                            ).get_json()["id"]
    url = f"/api/persons/{person_id}/migration-plans"
    plan = {"destination_country": "tw", "sector": "pengasuh_lansia", "scheme": "p3mi",
            "agency_name": "PT Maju", "informal_recruiter": True, "fee_asked": 35_000_000,
            "documents": ["paspor", "surat_kesehatan", "paspor"]}
    created = client.put(url, json=plan, headers=officer.headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["destination_country"], body["documents"]) == ("TW", ["paspor",
                                                                       "surat_kesehatan"])
    assert (body["sector_label"], body["scheme_label"]) == (
        "Pengasuh lansia", "P3MI (perusahaan penempatan)")
    replaced = client.put(url, json={"destination_country": "HK"}, headers=officer.headers)
    assert replaced.status_code == 200
    # PUT replaces the whole plan: what is not sent returns to its default.
    assert (replaced.get_json()["id"], replaced.get_json()["scheme"],
            replaced.get_json()["fee_asked"]) == (body["id"], "tidak_diketahui", None)
    assert count(MigrationPlan) == 1
    second = client.put(url, json={"id": str(uuid.uuid4()), "destination_country": "MY"},
                        headers=officer.headers)
    assert second.status_code == 201 and count(MigrationPlan) == 2
    items = client.get(url, headers=officer.headers).get_json()["items"]
    assert [p["destination_country"] for p in items] == ["MY", "HK"]
    one = client.get(f"/api/migration-plans/{body['id']}", headers=officer.headers)
    assert one.get_json()["destination_country"] == "HK"


INVALID_PLANS = [
    ({"destination_country": "XX"}, "destination_country", "A two-letter ISO 3166"),
    ({"destination_country": "ID"}, "destination_country", "The destination must be outside"),
    ({"sector": "pertambangan"}, "sector", "Must be one of:"),
    ({"scheme": None}, "scheme", "Field may not be null."),
    ({"fee_asked": -1}, "fee_asked", "Must be greater than or equal to 0"),
    ({"fee_asked": "5 juta"}, "fee_asked", "Not a valid integer."),
    ({"documents": ["ktp"]}, "documents", None),
    ({"person_id": "x"}, "person_id", "Unknown field."),
]


def test_invalid_migration_plan_is_refused(client, make_account, subtests):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(), headers=officer.headers
                            ).get_json()["id"]
    for body, field, en in INVALID_PLANS:
        with subtests.test(body=body):
            response = client.put(f"/api/persons/{person_id}/migration-plans", json=body,
                                  headers=officer.headers)
            assert response.status_code == 422
            messages = response.get_json()["error"]["fields"][field]
            if en:
                assert messages[0]["en"].startswith(en) and messages[0]["id"]
            else:
                assert messages["0"][0]["en"].startswith("Must be one of:")
    assert count(MigrationPlan) == 0
