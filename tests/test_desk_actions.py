"""The desk's and partners' actions on a referral: each a referral event, online and
offline; who may do which; consent purposes per path; what the village sees of it."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import Organisation
from server.models import Referral
from server.models import ReferralEvent
from sync import hlc
from tests.conftest import DESA_A
from tests.sync_helpers import Phone as _Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

APPOINTMENT = "2026-12-03T09:30:00+07:00"
PERSON = {"name": "Siti Aminah", "sex": "P", "birth_date": "1990-03-12", "desa_code": DESA_A,
          "migration_status": "pmi_aktif", "lawful_basis": "persetujuan"}
REFERRAL = {"services": ["pengaduan_kasus"], "reason": "Paspor ditahan agen",
            "case_category": "penahanan_dokumen", "urgency": "segera"}


def Phone(client, account) -> _Phone:  # noqa: N802 (reads as the class it makes)
    """A phone whose clock is the real one: its actions come after the server's."""
    return _Phone(client, account, wall_ms=hlc.wall_clock_ms())


def organisation_id(code: str) -> int:
    return db.session.execute(sa.select(Organisation.id).where(Organisation.code == code)
                              ).scalar_one()


def consent(*purposes) -> dict:
    return {"purposes": ["pencatatan", *purposes], "notice_version": "1", "method": "centang"}


@pytest.fixture
def people(client, make_account):
    """Every role around one community group's referrals: the group member who sends them,
    the desa's official, the LTSA desk, SBMI (to which referrals are forwarded), WCC staff,
    an admin."""
    member = make_account("community")
    return {"community": member, "officer": make_account("officer"),
            "ltsa": make_account("ltsa"), "partner": make_account("partner"),
            "other_partner": make_account("partner", organisation_code="wcc_mawar_balqis"),
            "admin": make_account("admin")}


def new_person(client, account, purposes=("rujukan_ltsa", "rujukan_mitra"), **changes) -> str:
    body = PERSON | {"consent": consent(*purposes)} | changes
    response = client.post("/api/persons", json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def new_referral(client, people, person_id=None) -> str:
    person_id = person_id or new_person(client, people["community"])
    response = client.post("/api/referrals", json=REFERRAL | {"person_id": person_id},
                           headers=people["community"].headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def post(client, account, referral_id, body):
    return client.post(f"/api/referrals/{referral_id}/events", json=body,
                       headers=account.headers)


def status(value, **extra) -> dict:
    return {"kind": "status", "status": value} | extra


# Each action the desk and partner screens offer, as the event it sends.
ACTIONS = {
    "receive": lambda: status("diterima"),
    "schedule": lambda: status("dijadwalkan", appointment_at=APPOINTMENT,
                               place="LTSA Sumber, loket 2"),
    "serve": lambda: status("dilayani"),
    "forward": lambda: status("dirujuk_lanjut",
                              organisation_id=organisation_id("wcc_mawar_balqis")),
    "hand_back": lambda: status("dikembalikan", note="Bukan kasus kami"),
    "close": lambda: status("selesai", outcome="Paspor dikembalikan agen"),
    "no_show": lambda: status("tidak_hadir"),
    "reschedule": lambda: status("dijadwalkan", appointment_at=APPOINTMENT),
    "note": lambda: {"kind": "note", "note": "Sudah ditelepon", "audience": "village"},
    "withdraw": lambda: status("dibatalkan"),
}
# The statuses an action starts from, set by whoever holds the referral (the LTSA desk; or,
# for the partner columns, SBMI after the LTSA forwarded it there).
BEFORE = {"receive": [], "schedule": ["diterima"], "serve": ["diterima"], "forward": [],
          "hand_back": [], "close": ["dilayani"], "no_show": ["dijadwalkan"],
          "reschedule": ["dijadwalkan", "tidak_hadir"], "note": [], "withdraw": []}
# The status each allowed action leaves (None: unchanged).
AFTER = {"receive": "diterima", "schedule": "dijadwalkan", "serve": "dilayani",
         "forward": "dirujuk_lanjut", "hand_back": "dikembalikan", "close": "selesai",
         "no_show": "tidak_hadir", "reschedule": "dijadwalkan", "note": None,
         "withdraw": "dibatalkan"}
ROLES = ("officer", "community", "ltsa", "partner", "other_partner", "admin")
OK, ROLE, SCOPE = None, ("forbidden", 403), ("not_found", 404)
# action: the answer per role, in the order of ROLES.
ALLOWED = {
    "receive": (ROLE, ROLE, OK, OK, SCOPE, OK),
    "schedule": (ROLE, ROLE, OK, OK, SCOPE, OK),
    "serve": (ROLE, ROLE, OK, OK, SCOPE, OK),
    "forward": (ROLE, ROLE, OK, ROLE, SCOPE, OK),
    "hand_back": (ROLE, ROLE, ROLE, OK, SCOPE, OK),
    "close": (ROLE, ROLE, OK, OK, SCOPE, OK),
    "no_show": (ROLE, ROLE, OK, OK, SCOPE, OK),
    "reschedule": (ROLE, ROLE, OK, OK, SCOPE, OK),
    "note": (OK, OK, OK, OK, SCOPE, OK),
    "withdraw": (OK, OK, ROLE, ROLE, SCOPE, OK),
}
CASES = [(action, role, ALLOWED[action][i]) for action in ACTIONS
         for i, role in enumerate(ROLES)]


def prepare(client, people, action: str, role: str) -> str:
    """A referral in the status the action starts from, held by the role's side."""
    referral_id = new_referral(client, people)
    at_partner = role in ("partner", "other_partner") or action == "hand_back"
    holder = people["ltsa"]
    if at_partner:
        forwarded = post(client, people["ltsa"], referral_id,
                         status("dirujuk_lanjut", organisation_id=organisation_id("sbmi")))
        assert forwarded.status_code == 201, forwarded.get_json()
        holder = people["partner"]
    for before in BEFORE[action]:
        body = ACTIONS["schedule"]() if before == "dijadwalkan" else status(before)
        assert post(client, holder, referral_id, body).status_code == 201
    return referral_id


def test_actions_by_role_online(client, people, subtests):
    for action, role, refusal in CASES:
        with subtests.test(action=action, role=role):
            referral_id = prepare(client, people, action, role)
            events = db.session.execute(sa.select(sa.func.count()).select_from(ReferralEvent)
                                        ).scalar_one()
            response = post(client, people[role], referral_id, ACTIONS[action]())
            db.session.expire_all()
            referral = db.session.get(Referral, referral_id)
            if refusal is None:
                assert response.status_code == 201, response.get_json()
                assert referral.status == (AFTER[action] or referral.status)
                continue
            code, http_status = refusal
            assert response.status_code == http_status, response.get_json()
            assert response.get_json()["error"]["code"] == code
            assert db.session.execute(sa.select(sa.func.count()).select_from(ReferralEvent)
                                      ).scalar_one() == events


DESK_PHONE_CASES = [(action, role) for action, role, refusal in CASES
                    if refusal is None and role in ("ltsa", "partner")]


def test_desk_actions_made_offline_sync_and_apply(client, people, subtests):
    """The same actions from the desk's or the partner's phone, offline, then synced."""
    for action, role in DESK_PHONE_CASES:
        with subtests.test(action=action, role=role):
            referral_id = prepare(client, people, action, role)
            seen = db.session.get(Referral, referral_id).status
            phone = Phone(client, people[role])
            fields = ACTIONS[action]() | {"referral_id": referral_id}
            if fields["kind"] == "status":
                fields["seen_status"] = seen
            event_id = phone.new("referral_events", fields)
            answer = phone.sync()
            assert answer["refused"] == [], answer["refused"]
            db.session.expire_all()
            assert db.session.get(Referral, referral_id).status == (AFTER[action] or seen)
            assert db.session.get(ReferralEvent, event_id).flagged is False


def test_a_partner_of_another_organisation_is_refused_by_id_offline(client, people):
    referral_id = prepare(client, people, "serve", "partner")
    phone = Phone(client, people["other_partner"])
    phone.new("referral_events", status("dilayani", seen_status="diterima")
              | {"referral_id": referral_id})
    answer = phone.sync()
    assert [(r["mutation_id"], r["reason"]) for r in answer["refused"]] == [(1, "not_found")]


def test_schedule_no_show_reschedule_and_close_reach_the_village(client, people):
    """The official's phone shows where the referral went, the latest appointment, the
    outcome and the notes meant for the village, not the desk's own notes."""
    ltsa, sbmi, officer = people["ltsa"], people["partner"], people["officer"]
    referral_id = new_referral(client, people)
    first = "2026-12-02T02:00:00+00:00"
    assert post(client, ltsa, referral_id, status(
        "dijadwalkan", appointment_at=first, place="LTSA Sumber")).status_code == 201
    assert post(client, ltsa, referral_id, status("tidak_hadir")).status_code == 201
    assert post(client, ltsa, referral_id, status(
        "dijadwalkan", appointment_at=APPOINTMENT, place="LTSA Sumber, loket 2")
    ).status_code == 201
    assert post(client, ltsa, referral_id, status(
        "dirujuk_lanjut", organisation_id=organisation_id("sbmi"))).status_code == 201
    assert post(client, ltsa, referral_id, {"kind": "note", "note": "Pelaku agen X"}
                ).status_code == 201
    assert post(client, sbmi, referral_id, {"kind": "note", "audience": "village",
                                            "note": "Mohon dampingi ke kantor SBMI"}
                ).status_code == 201
    assert post(client, sbmi, referral_id, status("dilayani")).status_code == 201
    assert post(client, sbmi, referral_id, status(
        "selesai", outcome="Paspor dikembalikan agen")).status_code == 201

    phone = Phone(client, officer)
    phone.sync_all()
    change = phone.records[("referrals", referral_id)]
    assert change["record"]["outcome"] == "Paspor dikembalikan agen"
    derived = change["derived"]
    assert (derived["status"], derived["assigned_organisation_name"]) == (
        "selesai", db.session.get(Organisation, organisation_id("sbmi")).name)
    assert derived["appointment_at"] == "2026-12-03T02:30:00+00:00"
    assert derived["appointment_place"] == "LTSA Sumber, loket 2"
    assert derived["overdue"] is False and derived["first_action_at"] is not None
    assert dt.date.fromisoformat(derived["due_on"]) >= dt.date.today()
    notes = [c["record"]["note"] for (entity, _), c in phone.records.items()
             if entity == "referral_events" and c["record"]["kind"] == "note"]
    assert notes == ["Mohon dampingi ke kantor SBMI"]
    # The desk pulls every note.
    desk = Phone(client, ltsa)
    desk.sync_all()
    assert sorted(c["record"]["note"] for (entity, _), c in desk.records.items()
                  if entity == "referral_events" and c["record"]["kind"] == "note") == [
        "Mohon dampingi ke kantor SBMI", "Pelaku agen X"]
    # A later correction of the outcome by the desk stays over the one given on closing.
    fixed = client.patch(f"/api/referrals/{referral_id}", json={"outcome": "Paspor kembali"},
                         headers=ltsa.headers)
    assert fixed.status_code == 200 and fixed.get_json()["outcome"] == "Paspor kembali"


def test_hand_back_returns_the_referral_to_the_ltsa(client, people):
    ltsa, sbmi = people["ltsa"], people["partner"]
    referral_id = prepare(client, people, "hand_back", "partner")
    assert post(client, sbmi, referral_id, ACTIONS["hand_back"]()).status_code == 201
    body = client.get(f"/api/referrals/{referral_id}", headers=ltsa.headers).get_json()
    assert (body["status"], body["assigned_organisation"]["code"]) == ("dikembalikan", "ltsa")
    # No longer theirs: the partner neither reads it nor acts on it.
    assert client.get(f"/api/referrals/{referral_id}", headers=sbmi.headers).status_code == 404
    assert post(client, ltsa, referral_id, status("diterima")).status_code == 201


INVALID_ACTIONS = [
    (status("diterima", appointment_at=APPOINTMENT), "appointment_at"),
    (status("dilayani", place="Balai desa"), "place"),
    (status("dilayani", outcome="Selesai"), "outcome"),
    ({"kind": "note", "note": "x", "appointment_at": APPOINTMENT}, "appointment_at"),
    ({"kind": "note", "note": "x", "audience": "semua"}, "audience"),
    (status("dijadwalkan", appointment_at="besok"), "appointment_at"),
    (status("dijadwalkan", place="x" * 201), "place"),
    (status("dirujuk_lanjut", organisation_id=None), "organisation_id"),
]


def test_invalid_actions_name_the_field(client, people, subtests):
    referral_id = new_referral(client, people)
    for body, field in INVALID_ACTIONS:
        with subtests.test(body=body):
            response = post(client, people["ltsa"], referral_id, body)
            assert response.status_code == 422
            error = response.get_json()["error"]
            assert error["code"] == "invalid" and field in error["fields"]
    ltsa_id = organisation_id("ltsa")
    back = post(client, people["ltsa"], referral_id, status("dirujuk_lanjut",
                                                              organisation_id=ltsa_id))
    assert back.status_code == 422 and "organisation_id" in back.get_json()["error"]["fields"]


def test_a_retried_schedule_is_a_retry_not_another_event(client, people):
    referral_id = new_referral(client, people)
    phone = Phone(client, people["ltsa"])
    fields = ACTIONS["schedule"]() | {"referral_id": referral_id, "seen_status": "terkirim"}
    event_id = phone.new("referral_events", fields)
    sent = list(phone.outbox)
    phone.sync()
    phone.outbox = [dict(m, mutation_id=2) for m in sent]
    phone.next_id = 3
    answer = phone.sync()
    assert (answer["applied"], answer["refused"]) == ([2], [])
    assert db.session.get(ReferralEvent, event_id).place == "LTSA Sumber, loket 2"


# Consent purposes, per path ----------------------------------------------------------------

def test_a_forward_needs_consent_to_partner_referral_online(client, people):
    person_id = new_person(client, people["community"], purposes=("rujukan_ltsa",))
    referral_id = new_referral(client, people, person_id)
    forward = ACTIONS["forward"]()
    refused = post(client, people["ltsa"], referral_id, forward)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "consent_missing"
    assert error["fields"]["organisation_id"][0]["en"].startswith(
        "The person has not consented to a referral to a partner organisation")
    # The person consents further (a new consent with the purpose): the forward goes.
    given = client.post(f"/api/persons/{person_id}/consents",
                        json=consent("rujukan_ltsa", "rujukan_mitra"),
                        headers=people["community"].headers)
    assert given.status_code == 201, given.get_json()
    assert post(client, people["ltsa"], referral_id, forward).status_code == 201


def test_a_forward_needs_consent_to_partner_referral_offline(client, people):
    person_id = new_person(client, people["community"], purposes=("rujukan_ltsa",))
    referral_id = new_referral(client, people, person_id)
    phone = Phone(client, people["ltsa"])
    phone.new("referral_events", ACTIONS["forward"]() | {"referral_id": referral_id,
                                                         "seen_status": "terkirim"})
    answer = phone.sync()
    assert [(r["mutation_id"], r["reason"]) for r in answer["refused"]] == [
        (1, "consent_missing")]
    db.session.expire_all()
    assert db.session.get(Referral, referral_id).status == "terkirim"


def test_a_referral_needs_consent_to_ltsa_referral_offline(client, people):
    person_id = new_person(client, people["community"], purposes=())
    phone = Phone(client, people["community"])
    phone.new("referrals", REFERRAL | {"person_id": person_id})
    answer = phone.sync()
    assert [(r["mutation_id"], r["reason"]) for r in answer["refused"]] == [
        (1, "consent_missing")]


def test_public_task_needs_no_consent_on_either_path(client, people):
    officer = people["officer"]
    body = PERSON | {"lawful_basis": "tugas_publik"}
    person_id = client.post("/api/persons", json=body, headers=officer.headers).get_json()["id"]
    online = client.post("/api/referrals", json=REFERRAL | {"person_id": person_id},
                         headers=officer.headers).get_json()["id"]
    assert post(client, people["ltsa"], online, ACTIONS["forward"]()).status_code == 201
    phone = Phone(client, officer)
    offline = phone.new("referrals", REFERRAL | {"person_id": person_id})
    assert phone.sync()["refused"] == []
    desk = Phone(client, people["ltsa"])
    desk.new("referral_events", ACTIONS["forward"]() | {"referral_id": offline,
                                                        "seen_status": "terkirim"})
    assert desk.sync()["refused"] == []


# Follow-up: overdue and the day list --------------------------------------------------------

def _sent_days_ago(referral_id: str, days: int) -> None:
    referral = db.session.get(Referral, referral_id)
    referral.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    db.session.commit()


def test_overdue_until_the_desk_acts(client, people, app):
    ltsa = people["ltsa"]
    late, fresh = new_referral(client, people), new_referral(client, people)
    # Eight days ago holds at least two whole working days, whatever today is.
    _sent_days_ago(late, 8)

    def listed(query):
        body = client.get(f"/api/referrals?{query}", headers=ltsa.headers).get_json()
        return [r["id"] for r in body["items"]]

    assert listed("overdue=1") == [late]
    assert listed("overdue=0") == [fresh]
    counts = client.get("/api/referrals/counts", headers=ltsa.headers).get_json()
    assert (counts["overdue"], counts["counts"]["terkirim"], counts["total"]) == (1, 2, 2)
    # Sorted for the inbox, the overdue referral comes first though it is older.
    assert listed("sort=inbox") == [late, fresh]
    phone = Phone(client, ltsa)
    phone.sync_all()
    assert phone.records[("referrals", late)]["derived"]["overdue"] is True
    assert phone.records[("referrals", fresh)]["derived"]["overdue"] is False
    # A longer setting: not overdue yet.
    app.config["REFERRAL_OVERDUE_WORKING_DAYS"] = 10
    assert listed("overdue=1") == []
    app.config["REFERRAL_OVERDUE_WORKING_DAYS"] = 2
    # The desk's note is an action: overdue no more.
    assert post(client, ltsa, late, {"kind": "note", "note": "Ditelepon"}).status_code == 201
    assert listed("overdue=1") == []
    body = client.get(f"/api/referrals/{late}", headers=ltsa.headers).get_json()
    assert body["overdue"] is False and body["first_action_at"] is not None


def test_the_day_list_and_the_inbox_filters(client, people):
    ltsa = people["ltsa"]
    today_id, tomorrow_id, other = (new_referral(client, people) for _ in range(3))
    post(client, ltsa, today_id, status("dijadwalkan", appointment_at="2026-12-03T23:30:00+07:00"))
    post(client, ltsa, tomorrow_id, status("dijadwalkan",
                                           appointment_at="2026-12-04T00:30:00+07:00"))
    urgent = client.post("/api/referrals", json=REFERRAL | {
        "person_id": new_person(client, people["community"], name="Rizky Maulana"),
        "urgency": "darurat", "services": ["bantuan_hukum"]},
        headers=people["community"].headers).get_json()["id"]

    def listed(query):
        response = client.get(f"/api/referrals?{query}", headers=ltsa.headers)
        assert response.status_code == 200, response.get_json()
        return [r["id"] for r in response.get_json()["items"]]

    assert listed("appointment_on=2026-12-03") == [today_id]
    assert listed("appointment_on=2026-12-04") == [tomorrow_id]
    assert listed("service=bantuan_hukum") == [urgent]
    assert listed("q=rizky") == [urgent]
    assert listed("urgency=darurat") == [urgent]
    assert set(listed("kecamatan_code=32.09.01")) == {today_id, tomorrow_id, other, urgent}
    assert listed("kecamatan_code=32.09.02") == []
    assert listed("sort=inbox")[0] == urgent
    assert len(listed("sent_from=2020-01-01&sent_to=2100-01-01")) == 4
    assert listed("sent_to=2020-01-01") == []
    counts = client.get("/api/referrals/counts?service=pengaduan_kasus",
                        headers=ltsa.headers).get_json()
    assert counts["counts"] | {} == {s: 0 for s in counts["counts"]} | {
        "terkirim": 1, "dijadwalkan": 2}
    bad = client.get("/api/referrals?kecamatan_code=32.09.01.2008&appointment_on=x"
                     "&sent_from=2026-12-02&sent_to=2026-12-01&q=a", headers=ltsa.headers)
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) == {"kecamatan_code", "appointment_on", "q"}
    reversed_range = client.get("/api/referrals?sent_from=2026-12-02&sent_to=2026-12-01",
                                headers=ltsa.headers)
    assert "sent_to" in reversed_range.get_json()["error"]["fields"]


def test_partners_count_only_what_was_forwarded_to_them(client, people):
    referral_id = new_referral(client, people)
    new_referral(client, people)
    post(client, people["ltsa"], referral_id, status("dirujuk_lanjut",
                                                     organisation_id=organisation_id("sbmi")))
    counts = client.get("/api/referrals/counts", headers=people["partner"].headers).get_json()
    assert (counts["total"], counts["counts"]["dirujuk_lanjut"]) == (1, 1)
    other = client.get("/api/referrals/counts", headers=people["other_partner"].headers)
    assert other.get_json()["total"] == 0


def test_an_unknown_referral_is_not_found(client, people):
    response = post(client, people["ltsa"], str(uuid.uuid4()), ACTIONS["receive"]())
    assert response.status_code == 404
