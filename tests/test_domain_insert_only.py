"""Insert-only means insert-only, and a withdrawn consent stays withdrawn, through sync too.

An insert that names an existing referral event is a retry when it says the same thing
(skipped as applied, nothing changes) and refused with `id_taken` when it says anything
else: the stored event, its clocks and its author never change, and nothing is logged as
a winning value. A consent once withdrawn cannot be reinstated or changed; its purposes
never widen and the time it was given never moves earlier, whatever the clock of the
mutation that asks.
"""

import datetime as dt

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import ConflictEntry
from server.models import Consent
from server.models import Organisation
from server.models import ReferralEvent
from sync import hlc
from sync import sequence
from tests.conftest import DESA_A
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

PERSON = {"name": "Nurhayati", "sex": "P", "birth_date": "1995-07-17", "desa_code": DESA_A,
          "migration_status": "purna_pmi", "lawful_basis": "persetujuan",
          "consent": {"purposes": ["pencatatan", "rujukan_ltsa", "rujukan_mitra"],
                      "notice_version": "1", "method": "centang",
                      "given_at": "2026-11-01T03:00:00+00:00"}}
REFERRAL = {"services": ["pengaduan_kasus"], "reason": "Gaji tidak dibayar",
            "case_category": "gaji_tidak_dibayar", "urgency": "segera"}


def organisation_id(code: str) -> int:
    return db.session.execute(sa.select(Organisation.id).where(Organisation.code == code)
                              ).scalar_one()


def row_state(model, record_id: str) -> dict:
    db.session.expire_all()
    row = db.session.get(model, record_id)
    return {c.key: getattr(row, c.key) for c in sa.inspect(model).columns}


def conflicts() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(ConflictEntry)
                              ).scalar_one()


@pytest.fixture
def history(client, make_account):
    """Two referrals of one person; on the first, the LTSA forwards to SBMI and notes it."""
    officer = make_account("officer")
    ltsa = make_account("ltsa")
    person = client.post("/api/persons", json=PERSON, headers=officer.headers).get_json()
    first, second = (client.post("/api/referrals", json=REFERRAL | {"person_id": person["id"]},
                                 headers=officer.headers).get_json() for _ in range(2))
    forward = client.post(f"/api/referrals/{first['id']}/events", json={
        "kind": "status", "status": "dirujuk_lanjut", "organisation_id": organisation_id("sbmi"),
        "note": "Ke SBMI"}, headers=ltsa.headers).get_json()
    note = client.post(f"/api/referrals/{first['id']}/events", json={
        "kind": "note", "note": "Catatan LTSA", "audience": "village"},
        headers=ltsa.headers).get_json()
    consent_id = db.session.execute(sa.select(Consent.id)).scalar_one()
    return {"officer": officer, "ltsa": ltsa, "first": first["id"], "second": second["id"],
            "forward": forward, "note": note, "consent": consent_id, "person": person["id"]}


def _event_fields(event: dict) -> dict:
    return {name: event[name] for name in ("referral_id", "kind", "status", "note",
                                           "organisation_id", "seen_status")}


# (case, event to reuse, changes to its content, phone clock relative to the server's)
EVENT_INSERTS = [
    ("another referral", "forward", lambda h: {"referral_id": h["second"]}, "older"),
    ("another organisation", "forward",
     lambda h: {"organisation_id": organisation_id("wcc_mawar_balqis")}, "older"),
    ("another note", "note", lambda h: {"note": "Ditulis ulang"}, "older"),
    ("another note, newer clock", "note", lambda h: {"note": "Ditulis ulang"}, "newer"),
    ("another status", "forward",
     lambda h: {"status": "dijadwalkan", "organisation_id": None}, "older"),
]


def _phone(client, account, when: str) -> Phone:
    now = hlc.wall_clock_ms()
    return Phone(client, account, wall_ms=now - 86_400_000 if when == "older" else now)


def test_an_insert_of_an_existing_event_with_other_content_is_refused(client, history,
                                                                       subtests):
    for case, which, changes, when in EVENT_INSERTS:
        with subtests.test(case):
            stored = history[which]
            before = row_state(ReferralEvent, stored["id"])
            logged, top = conflicts(), sequence.high_water(db.session)
            phone = _phone(client, history["officer"], when)
            phone.edit("referral_events", stored["id"],
                       _event_fields(stored) | changes(history), op="insert")
            answer = phone.sync()
            assert [r["reason"] for r in answer["refused"]] == ["id_taken"], answer
            assert answer["applied"] == []
            assert row_state(ReferralEvent, stored["id"]) == before
            assert conflicts() == logged
            assert sequence.high_water(db.session) == top


def test_an_insert_of_an_existing_event_with_the_same_content_is_a_retry(client, history):
    stored = history["forward"]
    before = row_state(ReferralEvent, stored["id"])
    logged, top = conflicts(), sequence.high_water(db.session)
    phone = _phone(client, history["officer"], "older")
    phone.edit("referral_events", stored["id"], _event_fields(stored), op="insert")
    answer = phone.sync()
    assert (answer["applied"], answer["refused"]) == ([1], [])
    assert row_state(ReferralEvent, stored["id"]) == before
    assert (conflicts(), sequence.high_water(db.session)) == (logged, top)


def test_the_api_refuses_an_event_id_of_another_referral(client, history):
    stored = history["note"]
    again = client.post(f"/api/referrals/{history['second']}/events",
                        json={"id": stored["id"], "kind": "note", "note": "Catatan LTSA"},
                        headers=history["ltsa"].headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "id_taken"


# (case, withdrawn first, fields sent for the consent, field named, code); the cases run
# in order on one consent, withdrawn once the first marked case comes.
CONSENT_CHANGES = [
    ("purposes widened", False, {"purposes": ["pencatatan", "rujukan_ltsa", "rujukan_mitra",
                                              "kontak_lanjutan"]}, "purposes", "forbidden"),
    ("given earlier", False, {"given_at": "2026-10-01T03:00:00+00:00"}, "given_at", "invalid"),
    ("reinstated", True, {"withdrawn_at": None}, "withdrawn_at", "forbidden"),
    ("withdrawal moved", True, {"withdrawn_at": "2026-11-05T03:00:00+00:00"}, "withdrawn_at",
     "forbidden"),
    ("withdrawn, then widened", True, {"purposes": ["pencatatan", "rujukan_ltsa", "rujukan_mitra",
                                                    "kontak_lanjutan"]}, "purposes", "forbidden"),
    ("withdrawn, notice changed", True, {"notice_version": "2"}, "notice_version",
     "forbidden"),
]


def test_a_consent_is_not_reinstated_widened_or_backdated_through_sync(client, history,
                                                                        subtests):
    consent_id = history["consent"]
    for case, withdrawn, fields, field, code in CONSENT_CHANGES:
        with subtests.test(case):
            stored = db.session.get(Consent, consent_id)
            if withdrawn and stored.withdrawn_at is None:
                response = client.post(f"/api/consents/{consent_id}/withdraw",
                                       headers=history["officer"].headers)
                assert response.status_code == 200
            before = row_state(Consent, consent_id)
            logged = conflicts()
            for when in ("older", "newer"):
                phone = _phone(client, history["officer"], when)
                phone.edit("consents", consent_id, fields)
                answer = phone.sync()
                (refused,) = answer["refused"]
                assert refused["reason"] == code, (when, refused)
                assert field in refused["fields"]
                assert row_state(Consent, consent_id) == before
                assert conflicts() == logged


def test_a_consent_may_narrow_and_be_withdrawn_through_sync(client, history):
    consent_id = history["consent"]
    phone = Phone(client, history["officer"], wall_ms=hlc.wall_clock_ms())
    phone.edit("consents", consent_id, {"purposes": ["pencatatan"]})
    phone.edit("consents", consent_id, {"withdrawn_at": dt.datetime.now(dt.UTC).isoformat()})
    answer = phone.sync()
    assert (answer["applied"], answer["refused"]) == ([1, 2], [])
    db.session.expire_all()
    stored = db.session.get(Consent, consent_id)
    assert stored.purposes == ["pencatatan"] and stored.withdrawn_at is not None
