"""Referrals through the JSON API: sending, the status rules, notes, corrections."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import Organisation
from server.models import Referral
from server.models import ReferralEvent
from server.schemas.records import today
from tests.conftest import DESA_A

pytestmark = pytest.mark.usefixtures("fast_passwords")


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def organisation_id(code: str) -> int:
    return db.session.execute(sa.select(Organisation.id).where(Organisation.code == code)
                              ).scalar_one()


def new_person(client, account, **changes) -> str:
    body = {"name": "Nurhayati", "sex": "P", "birth_date": "1995-07-17", "desa_code": DESA_A,
            "migration_status": "purna_pmi", "lawful_basis": "tugas_publik"} | changes
    response = client.post("/api/persons", json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def referral(person_id: str, **changes) -> dict:
    return {"person_id": person_id, "services": ["pengaduan_kasus", "bantuan_hukum"],
            "reason": "Gaji 5 bulan tidak dibayar", "case_category": "gaji_tidak_dibayar",
            "urgency": "segera"} | changes


@pytest.fixture
def desk(client, make_account):
    """An officer, an LTSA desk officer and SBMI staff, with one referral sent by the officer."""
    officer = make_account("officer")
    ltsa = make_account("ltsa")
    sbmi = make_account("partner", organisation_code="sbmi")
    person_id = new_person(client, officer)
    response = client.post("/api/referrals", json=referral(person_id), headers=officer.headers)
    assert response.status_code == 201, response.get_json()
    return {"officer": officer, "ltsa": ltsa, "sbmi": sbmi, "person_id": person_id,
            "referral": response.get_json()}


def event(client, account, referral_id, **body):
    return client.post(f"/api/referrals/{referral_id}/events", json=body,
                       headers=account.headers)


def test_sending_a_referral_writes_its_first_event(client, desk):
    body = desk["referral"]
    assert (body["status"], body["status_label"]) == ("terkirim", "Terkirim")
    assert (body["urgency_label"], body["case_category_label"]) == ("Segera",
                                                                    "Gaji tidak dibayar")
    assert body["desa_code"] == DESA_A and body["is_child"] is False
    assert body["person"]["name"] == "Nurhayati"
    assert body["assigned_organisation"]["code"] == "ltsa"
    assert body["created_by_id"] == desk["officer"].user_id
    (first,) = body["events"]
    assert (first["kind"], first["status"], first["author_role"]) == ("status", "terkirim",
                                                                      "officer")
    stored = db.session.get(Referral, body["id"])
    assert stored.change_seq > 0
    actions = db.session.execute(sa.select(AuditEntry.entity, AuditEntry.action).where(
        AuditEntry.entity.like("referral%"))).all()
    assert actions == [("referral", "create")]


def test_a_child_is_flagged_and_group_copied(client, make_account):
    member = make_account("community")
    day = today()
    person_id = new_person(
        client, member, birth_date=day.replace(year=day.year - 16).isoformat(),
        lawful_basis="persetujuan",
        consent={"purposes": ["rujukan_ltsa"], "notice_version": "1", "method": "centang",
                 "guardian_name": "Bu Warsini"})
    response = client.post("/api/referrals", json=referral(person_id), headers=member.headers)
    assert response.status_code == 201
    body = response.get_json()
    assert body["is_child"] is True and body["community_group_id"] is not None


def test_consent_must_cover_the_referral(client, make_account):
    member = make_account("community")
    person_id = new_person(client, member, lawful_basis="persetujuan", consent={
        "purposes": ["pencatatan"], "notice_version": "1", "method": "centang"})
    refused = client.post("/api/referrals", json=referral(person_id), headers=member.headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["person_id"][0]["en"] == (
        "The person has not consented to a referral to the LTSA.")
    given = client.post(f"/api/persons/{person_id}/consents", json={
        "purposes": ["rujukan_ltsa"], "notice_version": "1", "method": "tanda_tangan"},
        headers=member.headers).get_json()
    assert client.post("/api/referrals", json=referral(person_id),
                       headers=member.headers).status_code == 201
    # Once withdrawn, the consent no longer carries a new referral.
    client.post(f"/api/consents/{given['id']}/withdraw", headers=member.headers)
    again = client.post("/api/referrals", json=referral(person_id), headers=member.headers)
    assert again.status_code == 422
    assert count(Referral) == 1


INVALID_REFERRALS = [
    ({"services": []}, "services", "Choose at least one."),
    ({"services": ["pijat"]}, "services", None),
    ({"urgency": "sangat"}, "urgency", "Must be one of: biasa, segera, darurat."),
    ({"case_category": "lain"}, "case_category", "Must be one of:"),
    ({"status": "selesai"}, "status", "Unknown field."),
    ({"person_id": None}, "person_id", "Field may not be null."),
]


def test_invalid_referral_is_refused(client, make_account, subtests):
    officer = make_account("officer")
    person_id = new_person(client, officer)
    for changes, field, en in INVALID_REFERRALS:
        with subtests.test(changes=changes):
            response = client.post("/api/referrals", json=referral(person_id) | changes,
                                   headers=officer.headers)
            assert response.status_code == 422
            messages = response.get_json()["error"]["fields"][field]
            message = messages[0] if en else messages["0"][0]
            assert message["id"] and (not en or message["en"].startswith(en))
    missing = client.post("/api/referrals", json=referral(str(uuid.uuid4())),
                          headers=officer.headers)
    assert missing.status_code == 404
    client.post(f"/api/persons/{person_id}/archive", headers=officer.headers)
    archived = client.post("/api/referrals", json=referral(person_id), headers=officer.headers)
    assert archived.status_code == 409
    assert count(Referral) == count(ReferralEvent) == 0


def test_the_way_through_ltsa_and_a_partner(client, desk):
    ltsa, sbmi, officer = desk["ltsa"], desk["sbmi"], desk["officer"]
    referral_id = desk["referral"]["id"]
    # SBMI does not see it until it is forwarded to them.
    assert client.get(f"/api/referrals/{referral_id}", headers=sbmi.headers).status_code == 404
    assert event(client, ltsa, referral_id, kind="status", status="diterima").status_code == 201
    assert event(client, ltsa, referral_id, kind="status",
                 status="dijadwalkan", note="Senin 09.00").status_code == 201
    missing_org = event(client, ltsa, referral_id, kind="status", status="dirujuk_lanjut")
    assert missing_org.status_code == 422
    assert "organisation_id" in missing_org.get_json()["error"]["fields"]
    forwarded = event(client, ltsa, referral_id, kind="status", status="dirujuk_lanjut",
                      organisation_id=organisation_id("sbmi"))
    assert forwarded.status_code == 201
    assert forwarded.get_json()["status_label"] == "Dirujuk ke mitra"
    body = client.get(f"/api/referrals/{referral_id}", headers=sbmi.headers).get_json()
    assert body["assigned_organisation"]["code"] == "sbmi"
    assert event(client, sbmi, referral_id, kind="note",
                 note="Dihubungi lewat telepon").status_code == 201
    assert event(client, sbmi, referral_id, kind="note", audience="village",
                 note="Mohon kabari keluarga").status_code == 201
    assert event(client, sbmi, referral_id, kind="status", status="dilayani").status_code == 201
    assert event(client, sbmi, referral_id, kind="status", status="selesai").status_code == 201

    # The desk side reads every event; the village its status events and the notes meant
    # for it, not the desk's own notes.
    body = client.get(f"/api/referrals/{referral_id}", headers=ltsa.headers).get_json()
    assert [(e["kind"], e["status"], e["author_role"]) for e in body["events"]] == [
        ("status", "terkirim", "officer"), ("status", "diterima", "ltsa"),
        ("status", "dijadwalkan", "ltsa"), ("status", "dirujuk_lanjut", "ltsa"),
        ("note", None, "partner"), ("note", None, "partner"), ("status", "dilayani", "partner"),
        ("status", "selesai", "partner")]
    hlcs = [e["hlc"] for e in body["events"]]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == len(hlcs)
    body = client.get(f"/api/referrals/{referral_id}", headers=officer.headers).get_json()
    assert (body["status"], body["status_label"]) == ("selesai", "Selesai")
    assert [(e["kind"], e["note"]) for e in body["events"] if e["kind"] == "note"] == [
        ("note", "Mohon kabari keluarga")]
    listed = client.get(f"/api/referrals/{referral_id}/events", headers=officer.headers)
    assert [e["id"] for e in listed.get_json()["items"]] == [e["id"] for e in body["events"]]


REFUSED_TRANSITIONS = [
    # (who, status, http status, reason)
    ("ltsa", "selesai", 409, "transition_not_allowed"),
    ("ltsa", "tidak_hadir", 409, "transition_not_allowed"),
    ("officer", "diterima", 403, "role_not_allowed"),
    ("ltsa", "dibatalkan", 403, "role_not_allowed"),
]


def test_transitions_not_allowed_are_refused_and_not_written(client, desk, subtests):
    referral_id = desk["referral"]["id"]
    for who, status, http_status, reason in REFUSED_TRANSITIONS:
        with subtests.test(who=who, status=status):
            response = event(client, desk[who], referral_id, kind="status", status=status)
            assert response.status_code == http_status
            error = response.get_json()["error"]
            assert error["reason"] == reason
            assert error["message"]["id"] and error["message"]["en"]
    assert count(ReferralEvent) == 1
    db.session.expire_all()
    assert db.session.get(Referral, referral_id).status == "terkirim"


def test_village_may_withdraw_only_before_it_is_served(client, desk):
    referral_id = desk["referral"]["id"]
    event(client, desk["ltsa"], referral_id, kind="status", status="dilayani")
    # Served, then a new appointment: the status allows a withdrawal, the history does not.
    event(client, desk["ltsa"], referral_id, kind="status", status="dijadwalkan")
    response = event(client, desk["officer"], referral_id, kind="status", status="dibatalkan")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["reason"] == "already_served"
    assert error["message"]["id"] == "Rujukan yang sudah dilayani tidak dapat dibatalkan."
    # A fresh referral can be withdrawn by the village.
    second = client.post("/api/referrals", json=referral(desk["person_id"]),
                         headers=desk["officer"].headers).get_json()
    withdrawn = event(client, desk["officer"], second["id"], kind="status", status="dibatalkan")
    assert withdrawn.status_code == 201 and withdrawn.get_json()["status_label"] == "Dibatalkan"


INVALID_EVENTS = [
    ({"kind": "note"}, "note"),
    ({"kind": "note", "note": "x", "status": "diterima"}, "status"),
    ({"kind": "status"}, "status"),
    ({"kind": "status", "status": "diterima", "organisation_id": 3}, "organisation_id"),
    ({"kind": "status", "status": "draf"}, "status"),
    ({"kind": "comment", "note": "x"}, "kind"),
    ({"kind": "status", "status": "diterima", "author_role": "admin"}, "author_role"),
    ({"kind": "status", "status": "dirujuk_lanjut", "organisation_id": 999}, "organisation_id"),
]


def test_invalid_events_are_refused(client, desk, subtests):
    for body, field in INVALID_EVENTS:
        with subtests.test(body=body):
            response = event(client, desk["ltsa"], desk["referral"]["id"], **body)
            assert response.status_code == 422
            assert field in response.get_json()["error"]["fields"]
    assert count(ReferralEvent) == 1


def test_sending_an_event_again_returns_it_once(client, desk):
    body = {"id": str(uuid.uuid4()), "kind": "note", "note": "Sudah ditelepon"}
    url = f"/api/referrals/{desk['referral']['id']}/events"
    assert client.post(url, json=body, headers=desk["ltsa"].headers).status_code == 201
    assert client.post(url, json=body, headers=desk["ltsa"].headers).status_code == 200
    assert count(ReferralEvent) == 2


def test_list_filters(client, desk, make_account):
    officer = desk["officer"]
    other = client.post("/api/referrals", json=referral(desk["person_id"], urgency="darurat"),
                        headers=officer.headers).get_json()["id"]
    event(client, desk["ltsa"], other, kind="status", status="dirujuk_lanjut",
          organisation_id=organisation_id("sbmi"))

    def ids(query, account=officer):
        body = client.get(f"/api/referrals?{query}", headers=account.headers).get_json()
        assert all(item["status_label"] for item in body["items"])
        return [r["id"] for r in body["items"]]

    first = desk["referral"]["id"]
    assert ids("") == [other, first]
    assert ids("status=dirujuk_lanjut") == [other]
    assert ids("urgency=segera") == [first]
    assert ids(f"assigned_organisation_id={organisation_id('sbmi')}") == [other]
    assert ids("is_child=true") == []
    assert ids(f"desa_code={DESA_A}&per_page=1&page=2") == [first]
    assert ids("", desk["sbmi"]) == [other]
    bad = client.get("/api/referrals?status=draf&urgency=x", headers=officer.headers)
    assert set(bad.get_json()["error"]["fields"]) == {"status", "urgency"}


def test_corrections_by_side_and_status(client, desk):
    referral_id = desk["referral"]["id"]
    url = f"/api/referrals/{referral_id}"
    officer, ltsa = desk["officer"], desk["ltsa"]
    fixed = client.patch(url, json={"services": ["konsultasi_purna"], "urgency": "darurat"},
                         headers=officer.headers)
    assert fixed.status_code == 200
    assert (fixed.get_json()["services"], fixed.get_json()["urgency"]) == (
        ["konsultasi_purna"], "darurat")
    assert client.patch(url, json={"outcome": "Selesai"}, headers=officer.headers
                        ).status_code == 403
    assert client.patch(url, json={"services": ["dukcapil"]}, headers=ltsa.headers
                        ).status_code == 403
    event(client, ltsa, referral_id, kind="status", status="diterima")
    late = client.patch(url, json={"reason": "Tambahan"}, headers=officer.headers)
    assert late.status_code == 409
    outcome = client.patch(url, json={"outcome": "Gaji dibayar sebagian", "urgency": "biasa"},
                           headers=ltsa.headers)
    assert outcome.status_code == 200 and outcome.get_json()["outcome"] == (
        "Gaji dibayar sebagian")
    db.session.expire_all()
    stored = db.session.get(Referral, referral_id)
    assert (stored.reason, stored.services) == ("Gaji 5 bulan tidak dibayar",
                                                ["konsultasi_purna"])
    bad = client.patch(url, json={"services": [], "status": "selesai"}, headers=ltsa.headers)
    assert set(bad.get_json()["error"]["fields"]) == {"services", "status"}


def test_events_after_a_phone_clock_that_runs_ahead_still_come_last(client, desk):
    referral_id = desk["referral"]["id"]
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    stamp = f"{int(ahead.timestamp() * 1000):015d}-00000-phone-1"
    db.session.add(ReferralEvent(referral_id=referral_id, kind="note", note="dari HP",
                                 author_role="officer", hlc=stamp))
    db.session.commit()
    response = event(client, desk["ltsa"], referral_id, kind="status", status="diterima")
    assert response.status_code == 201
    assert response.get_json()["hlc"] > stamp
    body = client.get(f"/api/referrals/{referral_id}", headers=desk["ltsa"].headers).get_json()
    assert [e["status"] for e in body["events"]] == ["terkirim", None, "diterima"]
    assert body["status"] == "diterima"
