"""POST /api/sync end to end: push, pull, retries, refusals, conflicts, clocks, scopes."""

import gzip
import json

import pytest
import sqlalchemy as sa

from server.domain.referrals import first_event_id
from server.extensions import db
from server.models import ConflictEntry
from server.models import Consent
from server.models import MigrationPlan
from server.models import Notification
from server.models import OutreachVisit
from server.models import Person
from server.models import PossibleDuplicate
from server.models import Referral
from server.models import ReferralEvent
from server.models import SyncClient
from server.models import User
from sync import hlc
from sync import protocol
from sync import sequence
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

PERSON = {"name": "Siti Nurhasanah", "sex": "P", "birth_date": "1998-04-12",
          "phone": "0812-3456-7890", "desa_code": DESA_A, "migration_status": "calon_potensial",
          "lawful_basis": "tugas_publik", "address": "Blok Kliwon RT 02"}


def count(model):
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def officer(make_account):
    return make_account("officer", desa_code=DESA_A)


def test_push_then_pull_on_another_phone(client, officer, make_account):
    phone = Phone(client, officer)
    visit_id = phone.new("visits", VISIT)
    answer = phone.sync()
    assert answer["applied"] == [1] and answer["refused"] == [] and phone.outbox == []
    colleague = Phone(client, make_account("officer", desa_code=DESA_A))
    colleague.sync_all()
    record = colleague.record("visits", visit_id)
    assert record["participants_female"] == 11 and record["rt"] == "002"
    assert record["_clocks"]["notes"].endswith(phone.node)
    stranger = Phone(client, make_account("officer", desa_code=DESA_B))
    stranger.sync_all()
    assert ("visits", visit_id) not in stranger.records


def test_one_round_trip_carries_a_days_work(client, officer):
    phone = Phone(client, officer)
    for i in range(300):
        phone.new("visits", dict(VISIT, notes=f"kunjungan {i}"))
    answer = phone.sync()
    assert len(answer["applied"]) == 300 and not answer["more"]
    assert count(OutreachVisit) == 300


def test_retry_after_lost_answer_applies_nothing_twice(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    batch = phone.body()
    first = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    # The answer was lost: the phone sends the same batch again.
    again = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    assert first["applied"] == [1] and again["skipped"] == [1] and again["applied"] == []
    assert count(OutreachVisit) == 1
    assert again["last_mutation_id"] == 1


def test_bad_batch_writes_nothing_and_names_each_mutation(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.new("visits", dict(VISIT, participants_male="banyak"))
    phone.new("visits", dict(VISIT, colour="merah"))
    phone.edit("spaceships", "0b6f1c9e-1111-4aaa-8bbb-123456789abc", {"x": 1})
    error = phone.sync(expect=422)["error"]
    mutations = error["fields"]["mutations"]
    assert set(mutations) == {"2", "3", "4"}
    assert mutations["2"]["fields"]["participants_male"][0]["en"] == "Not a valid integer."
    assert mutations["2"]["fields"]["participants_male"][0]["id"] == "Harus berupa bilangan bulat."
    assert "colour" in mutations["3"]["fields"]
    assert mutations["4"]["entity"][0]["en"] == "Unknown entity."
    assert count(OutreachVisit) == 0
    assert db.session.execute(sa.select(SyncClient.last_mutation_id)).scalar() in (None, 0)


@pytest.mark.parametrize(("body", "status", "text"), [
    ({"protocol": 2, "cursor": 0}, 422, "client_id"),
    ({"protocol": 2, "client_id": "nope"}, 422, "client_id"),
    ({"protocol": 2, "client_id": "0b6f1c9e-1111-4aaa-8bbb-123456789abc", "cursor": -1}, 422,
     "cursor"),
    ({"protocol": 2, "client_id": "0b6f1c9e-1111-4aaa-8bbb-123456789abc",
      "mutations": [{"entity": "visits"}]}, 422, "mutations"),
    ({"client_id": "0b6f1c9e-1111-4aaa-8bbb-123456789abc", "protocol": 99}, 422, "protocol"),
    ({"client_id": "0b6f1c9e-1111-4aaa-8bbb-123456789abc", "protocol": "2"}, 422, "protocol"),
])
def test_malformed_envelopes(client, officer, body, status, text):
    response = client.post("/api/sync", json=body, headers=officer.headers)
    assert response.status_code == status
    assert text in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("version", [None, 1, 0])
def test_an_older_app_is_told_to_update_and_nothing_is_applied(client, officer, version):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    body = phone.body()
    if version is None:
        del body["protocol"]
    else:
        body["protocol"] = version
    response = client.post("/api/sync", json=body, headers=officer.headers)
    assert response.status_code == 426
    error = response.get_json()["error"]
    assert error["code"] == "client_outdated"
    assert error["message"]["id"].startswith("Perbarui aplikasi")
    assert error["message"]["en"].startswith("Update the app")
    assert count(OutreachVisit) == 0
    # Updated, the same outbox goes through.
    assert phone.sync()["applied"] == [1]
    assert count(OutreachVisit) == 1


def test_oversize_batch_is_refused_whole(client, officer):
    phone = Phone(client, officer)
    for _ in range(protocol.MAX_MUTATIONS + 1):
        phone.edit("visits", "0b6f1c9e-1111-4aaa-8bbb-123456789abc", {"notes": "x"})
    error = phone.sync(expect=422)["error"]
    assert "mutations" in error["fields"]
    assert count(OutreachVisit) == 0


def test_gzip_bomb_is_refused(client, officer, monkeypatch):
    monkeypatch.setattr("server.api.sync.MAX_BODY_BYTES", 10_000)
    payload = {"client_id": "0b6f1c9e-1111-4aaa-8bbb-123456789abc", "pad": " " * 50_000}
    response = client.post("/api/sync", data=gzip.compress(json.dumps(payload).encode()),
                           headers=dict(officer.headers, **{"Content-Encoding": "gzip"}),
                           content_type="application/json")
    assert response.status_code == 413
    assert "10000" in response.get_json()["error"]["message"]["en"]


def test_gzip_both_ways(client, officer):
    phone = Phone(client, officer)
    for i in range(20):
        phone.new("visits", dict(VISIT, notes=f"catatan {i}"))
    phone.sync(gzip_body=True)
    response = client.post("/api/sync", json={"protocol": 2, "client_id": phone.client_id,
                                              "cursor": 0},
                           headers=dict(officer.headers, **{"Accept-Encoding": "gzip"}))
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(response.data))["changes"]) == 20


def test_mutation_outside_scope_is_refused_and_the_rest_goes_on(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", dict(VISIT, desa_code=DESA_B))
    good = phone.new("visits", VISIT)
    answer = phone.sync()
    assert [r["mutation_id"] for r in answer["refused"]] == [1]
    assert answer["refused"][0]["reason"] == "forbidden"
    assert answer["refused"][0]["message"]["id"]
    assert answer["applied"] == [2] and answer["last_mutation_id"] == 2
    assert db.session.execute(sa.select(OutreachVisit.id)).scalars().all() == [good]


def test_editing_a_record_of_another_desa_is_refused(client, officer, make_account):
    other = Phone(client, make_account("officer", desa_code=DESA_B))
    visit_id = other.new("visits", dict(VISIT, desa_code=DESA_B))
    other.sync()
    phone = Phone(client, officer)
    phone.edit("visits", visit_id, {"notes": "diubah dari desa lain"})
    answer = phone.sync()
    assert answer["refused"][0]["reason"] == "not_found"
    assert db.session.get(OutreachVisit, visit_id).notes == VISIT["notes"]


def test_invalid_value_names_the_mutation_and_field(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.new("visits", dict(VISIT, visit_date="2099-01-01"))
    error = phone.sync(expect=422)["error"]
    message = error["fields"]["mutations"]["2"]["fields"]["visit_date"][0]
    assert message == {"id": "Tanggal tidak boleh di masa depan.",
                       "en": "The date cannot be in the future."}
    assert count(OutreachVisit) == 0


def test_incomplete_new_record_is_refused_alone(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", {"notes": "lupa jenis dan tanggal"})
    phone.new("visits", VISIT)
    answer = phone.sync()
    refused = answer["refused"][0]
    assert refused["mutation_id"] == 1 and refused["reason"] == "invalid"
    assert refused["fields"]["visit_type"][0]["id"] == "Wajib diisi."
    assert answer["applied"] == [2] and count(OutreachVisit) == 1


def test_two_phones_edit_one_field_offline_nothing_lost(client, officer, make_account):
    a = Phone(client, officer, node="hp-a")
    b = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-b")
    visit_id = a.new("visits", VISIT)
    a.sync()
    b.sync_all()
    a.edit("visits", visit_id, {"notes": "versi A"})
    b.wall_ms = a.wall_ms + 5000  # B edits later
    b.edit("visits", visit_id, {"notes": "versi B"})
    b.sync()
    a.sync()
    a.sync_all()
    b.sync_all()
    assert a.record("visits", visit_id)["notes"] == b.record("visits", visit_id)["notes"]
    assert db.session.get(OutreachVisit, visit_id).notes == "versi B"
    entries = db.session.execute(sa.select(ConflictEntry)).scalars().all()
    assert [(e.field, e.losing_value, e.winning_value) for e in entries] == [
        ("notes", "versi A", "versi B")]
    for phone in (a, b):
        (conflict,) = phone.conflicts.values()
        assert conflict["losing_value"] == "versi A"
        assert conflict["losing_author"]["name"].startswith("Uji")


def test_conflict_is_resolved_by_a_new_mutation(client, officer, make_account):
    a = Phone(client, officer, node="hp-a")
    b = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-b")
    visit_id = a.new("visits", VISIT)
    a.sync()
    a.edit("visits", visit_id, {"participants_female": 12})
    b.wall_ms = a.wall_ms + 5000
    b.edit("visits", visit_id, {"participants_female": 13})
    a.sync()
    b.sync()
    listing = client.get("/api/conflicts?open=1", headers=officer.headers).get_json()
    (entry,) = listing["items"]
    response = client.post(f"/api/conflicts/{entry['id']}/resolve", json={"value": 12},
                           headers=officer.headers)
    assert response.status_code == 200 and response.get_json()["resolved_at"]
    assert db.session.get(OutreachVisit, visit_id).participants_female == 12
    a.sync_all()
    assert a.record("visits", visit_id)["participants_female"] == 12
    assert a.record("visits", visit_id)["_clocks"]["participants_female"].endswith("-server")
    assert client.get("/api/conflicts?open=1", headers=officer.headers).get_json()["total"] == 0
    stranger = make_account("officer", desa_code=DESA_B)
    assert client.get("/api/conflicts", headers=stranger.headers).get_json()["total"] == 0
    assert client.post(f"/api/conflicts/{entry['id']}/resolve", json={"value": 1},
                       headers=stranger.headers).status_code == 404


def test_phone_date_far_ahead_cannot_win(client, officer, make_account):
    honest = Phone(client, officer, node="hp-ok")
    visit_id = honest.new("visits", VISIT)
    honest.sync()
    # A phone whose date is a year ahead edits; a later honest edit must still win.
    wrong = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-salah",
                  wall_ms=hlc.wall_clock_ms() + 365 * 86_400_000)
    wrong.edit("visits", visit_id, {"notes": "dari HP bertanggal salah"})
    answer = wrong.sync()
    assert answer["applied"] == [1] and answer["clamped"][0]["mutation_id"] == 1
    assert answer["clock"]["warning"]["id"].startswith("Tanggal di HP ini salah")
    stored = db.session.get(OutreachVisit, visit_id)
    assert hlc.wall_of(stored.field_clocks["notes"]) <= hlc.wall_clock_ms()
    honest.wall_ms = hlc.wall_clock_ms() + 1000
    honest.edit("visits", visit_id, {"notes": "koreksi"})
    honest.sync()
    db.session.expire_all()
    assert db.session.get(OutreachVisit, visit_id).notes == "koreksi"


def test_pull_pages_never_skip(client, officer, make_account):
    phone = Phone(client, officer)
    ids = {phone.new("visits", dict(VISIT, notes=str(i))) for i in range(25)}
    phone.sync()
    reader = Phone(client, make_account("officer", desa_code=DESA_A))
    answers = []
    answer = reader.sync(pull_limit=7)
    answers.append(answer)
    while answer["more"]:
        answer = reader.sync(pull_limit=7)
        answers.append(answer)
    assert len(answers) == 4
    assert {rid for (_, rid) in reader.records} == ids
    assert reader.cursor == sequence.high_water(db.session)


def test_scope_change_tells_the_client_to_reset(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.sync()
    user = db.session.get(User, officer.user_id)
    user.desa_code = DESA_B
    db.session.commit()
    answer = phone.sync()
    assert answer["reset"] == "scope_changed" and answer["cursor"] == 0
    answer = phone.sync()
    assert answer["reset"] is None and phone.records == {}


def test_cursor_older_than_kept_tombstones_resets(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.sync()
    sequence.set_purged_below(db.session, phone.cursor + 1)
    db.session.commit()
    assert phone.sync()["reset"] == "cursor_expired"


def test_delete_leaves_a_tombstone_and_persons_are_never_deleted(client, officer):
    phone = Phone(client, officer)
    visit_id = phone.new("visits", VISIT)
    person_id = phone.new("persons", PERSON)
    phone.sync()
    phone.edit("visits", visit_id, {}, op="delete")
    phone.edit("persons", person_id, {}, op="delete")
    error = phone.sync(expect=422)["error"]
    assert set(error["fields"]["mutations"]) == {"4"}
    phone.outbox = [m for m in phone.outbox if m["mutation_id"] != 4]
    phone.sync()
    assert db.session.get(OutreachVisit, visit_id).deleted_hlc is not None
    assert db.session.get(Person, person_id) is not None
    phone.sync_all()
    assert phone.record("visits", visit_id)["_deleted"] is not None


def test_referral_made_offline_gets_status_and_late_withdrawal_is_flagged(
        client, officer, make_account):
    phone = Phone(client, officer)
    person_id = phone.new("persons", PERSON)
    referral_id = phone.new("referrals", {"person_id": person_id,
                                          "services": ["konsultasi_pra_penempatan"],
                                          "urgency": "segera", "reason": "Ditawari calo"})
    answer = phone.sync()
    assert answer["applied"] == [1, 2]
    referral = db.session.get(Referral, referral_id)
    assert referral.status == "terkirim" and referral.desa_code == DESA_A
    # The LTSA desk, online, starts serving it...
    ltsa = make_account("ltsa")
    for status in ("diterima", "dilayani"):
        r = client.post(f"/api/referrals/{referral_id}/events",
                        json={"kind": "status", "status": status}, headers=ltsa.headers)
        assert r.status_code == 201, r.get_json()
    # ...while the officer, offline and without having pulled, withdraws it afterwards.
    phone.wall_ms = hlc.wall_clock_ms() + 1000
    withdrawal_id = phone.new("referral_events", {"referral_id": referral_id, "kind": "status",
                                                  "status": "dibatalkan"})
    phone.sync()
    phone.sync_all()
    db.session.expire_all()
    referral = db.session.get(Referral, referral_id)
    assert referral.status == "dilayani"
    late = db.session.get(ReferralEvent, withdrawal_id)
    assert late.flagged and late.flag_reason == "transition_not_allowed"
    assert phone.records[("referrals", referral_id)]["derived"]["status"] == "dilayani"
    assert phone.records[("referral_events", withdrawal_id)]["derived"]["flagged"] is True
    events = db.session.execute(sa.select(ReferralEvent).where(
        ReferralEvent.referral_id == referral_id)).scalars().all()
    assert sorted(e.status for e in events) == ["dibatalkan", "dilayani", "diterima", "terkirim"]


def test_retried_referral_creates_its_first_event_once(client, officer):
    phone = Phone(client, officer)
    person_id = phone.new("persons", PERSON)
    phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    batch = phone.body()
    for _ in range(2):
        client.post("/api/sync", json=batch, headers=officer.headers)
    assert count(ReferralEvent) == 1


def test_client_id_of_another_account_is_refused(client, officer, make_account):
    phone = Phone(client, officer)
    phone.sync()
    thief = make_account("officer", desa_code=DESA_A)
    response = client.post("/api/sync", json={"protocol": 2, "client_id": phone.client_id},
                           headers=thief.headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["message"]["id"].startswith("client_id ini milik")


def test_sync_requires_login(client):
    response = client.post("/api/sync", json={"client_id": "0b6f1c9e-1111-4aaa-8bbb-123456789abc"})
    assert response.status_code == 401


def _refer(phone, person=PERSON):
    person_id = phone.new("persons", person)
    referral_id = phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"],
                                          "case_category": "gaji_tidak_dibayar"})
    phone.sync()
    return person_id, referral_id


def test_desk_and_partner_pull_the_persons_that_enter_their_scope(client, officer, make_account):
    ltsa = Phone(client, make_account("ltsa"))
    partner = Phone(client, make_account("partner", organisation_code="sbmi"))
    ltsa.sync_all()
    partner.sync_all()
    phone = Phone(client, officer)
    person_id = phone.new("persons", PERSON)
    phone.sync()
    # The person existed before the referral: the desk's cursor is already past it.
    ltsa.sync_all()
    referral_id = phone.new("referrals", {"person_id": person_id,
                                          "services": ["bantuan_hukum"]})
    phone.sync()
    ltsa.sync_all()
    assert ("persons", person_id) in ltsa.records
    assert ltsa.records[("referrals", referral_id)]["derived"]["status"] == "terkirim"
    sbmi = db.session.execute(sa.text("SELECT id FROM organisations WHERE code = 'sbmi'")).scalar()
    r = client.post(f"/api/referrals/{referral_id}/events",
                    json={"kind": "status", "status": "dirujuk_lanjut", "organisation_id": sbmi},
                    headers=ltsa.account.headers)
    assert r.status_code == 201, r.get_json()
    partner.sync_all()
    assert ("persons", person_id) in partner.records
    assert ("referrals", referral_id) in partner.records
    statuses = sorted(c["record"]["status"] for (entity, _), c in partner.records.items()
                      if entity == "referral_events")
    assert statuses == ["dirujuk_lanjut", "terkirim"]


def test_referrals_and_consents_are_never_deleted(client, officer):
    phone = Phone(client, officer)
    person_id, referral_id = _refer(phone)
    phone.edit("referrals", referral_id, {}, op="delete")
    error = phone.sync(expect=422)["error"]
    message = error["fields"]["mutations"][str(phone.next_id - 1)]["op"][0]
    assert message["id"] == "Perubahan ditolak (archive_only)."
    assert db.session.get(Referral, referral_id).deleted_hlc is None


def test_consent_needs_the_time_it_was_given(client, officer):
    phone = Phone(client, officer)
    person_id = phone.new("persons", PERSON)
    phone.new("consents", {"person_id": person_id, "purposes": ["pencatatan"],
                           "notice_version": "2024-10", "method": "centang"})
    answer = phone.sync()
    assert answer["refused"][0]["fields"]["given_at"][0]["id"] == "Wajib diisi."


def test_visit_for_a_group_of_another_desa_is_refused(client, officer, make_account):
    other = make_account("community", desa_code=DESA_B)
    group = db.session.get(User, other.user_id).community_group_id
    phone = Phone(client, officer)
    phone.new("visits", dict(VISIT, community_group_id=group))
    phone.new("visits", dict(VISIT, community_group_id="0b6f1c9e-1111-4aaa-8bbb-123456789abc"))
    answer = phone.sync()
    assert [r["reason"] for r in answer["refused"]] == ["invalid", "invalid"]
    assert count(OutreachVisit) == 0


def test_sync_refers_only_who_may_be_referred(client, make_account):
    member = make_account("community", desa_code=DESA_A)
    phone = Phone(client, member)
    consenting = dict(PERSON, lawful_basis="persetujuan")
    person_id = phone.new("persons", consenting)
    phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    answer = phone.sync()
    refused = answer["refused"][0]
    assert refused["mutation_id"] == 2
    assert refused["fields"]["person_id"][0]["en"] == (
        "The person has not consented to a referral to the LTSA.")


def test_village_side_cannot_edit_after_the_desk_acted(client, officer, make_account):
    phone = Phone(client, officer)
    _, referral_id = _refer(phone)
    ltsa = make_account("ltsa")
    client.post(f"/api/referrals/{referral_id}/events",
                json={"kind": "status", "status": "diterima"}, headers=ltsa.headers)
    phone.sync_all()
    phone.edit("referrals", referral_id, {"reason": "ditulis ulang"})
    answer = phone.sync()
    assert answer["refused"][0]["reason"] == "conflict"
    assert db.session.get(Referral, referral_id).reason == ""


def test_a_client_cannot_stamp_as_another_node(client, officer):
    phone = Phone(client, officer, node="hp-ani")
    phone.new("visits", VISIT)
    phone.sync()
    phone.node = "server"
    phone.clock = None
    phone.new("visits", VISIT)
    error = phone.sync(expect=422)["error"]
    assert set(error["fields"]["mutations"]) == {"2"}
    assert "hlc" in error["fields"]["mutations"]["2"]
    assert count(OutreachVisit) == 1


def test_a_lost_answer_does_not_lose_the_refusal(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", dict(VISIT, desa_code=DESA_B))
    batch = phone.body()
    first = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    again = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    assert first["refused"][0]["mutation_id"] == 1
    assert again["skipped"] == [1] and again["refused"] == first["refused"]


def test_a_lost_reset_answer_is_given_again(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.sync()
    user = db.session.get(User, officer.user_id)
    user.desa_code = DESA_B
    db.session.commit()
    body = phone.body()
    for _ in range(2):
        answer = client.post("/api/sync", json=body, headers=officer.headers).get_json()
        assert answer["reset"] == "scope_changed"
    assert phone.sync()["reset"] == "scope_changed"
    assert phone.sync()["reset"] is None


def test_a_new_client_starts_even_after_tombstones_were_purged(client, officer):
    sequence.set_purged_below(db.session, 5)
    db.session.commit()
    phone = Phone(client, officer)
    assert phone.sync()["reset"] is None


def test_envelope_errors_are_keyed_by_mutation_id(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.new("visits", VISIT)
    phone.outbox[1]["mutation_id"] = 7
    phone.outbox[1]["id"] = "not-a-uuid"
    error = phone.sync(expect=422)["error"]
    assert set(error["fields"]["mutations"]) == {"7"}
    assert "id" in error["fields"]["mutations"]["7"]


def test_a_node_belongs_to_one_client(client, officer, make_account):
    ani = Phone(client, officer, node="hp-ani")
    ani.new("visits", VISIT)
    ani.sync()
    impostor = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-ani")
    impostor.new("visits", VISIT)
    error = impostor.sync(expect=422)["error"]
    assert set(error["fields"]["mutations"]) == {"1"}


def test_a_childs_consent_needs_a_guardian(client, officer):
    phone = Phone(client, officer)
    child = phone.new("persons", dict(PERSON, birth_date="2012-03-04"))
    consent = {"person_id": child, "purposes": ["pencatatan"], "notice_version": "2024-10",
               "method": "tanda_tangan", "given_at": "2026-11-01T03:00:00+00:00"}
    phone.new("consents", consent)
    phone.new("consents", dict(consent, guardian_name="Warsini", guardian_relation="ibu"))
    answer = phone.sync()
    assert [r["mutation_id"] for r in answer["refused"]] == [2]
    assert "guardian_name" in answer["refused"][0]["fields"]
    assert answer["applied"] == [1, 3]


def test_an_event_naming_an_unknown_organisation_is_refused(client, officer):
    phone = Phone(client, officer)
    _, referral_id = _refer(phone)
    phone.new("referral_events", {"referral_id": referral_id, "kind": "status",
                                  "status": "dirujuk_lanjut", "organisation_id": 999})
    answer = phone.sync()
    assert answer["refused"][0]["fields"]["organisation_id"][0]["en"] == (
        "Unknown or inactive organisation.")


def test_the_desk_pulls_a_referred_persons_consents_and_plans(client, officer, make_account):
    ltsa = Phone(client, make_account("ltsa"))
    phone = Phone(client, officer)
    person_id = phone.new("persons", PERSON)
    consent_id = phone.new("consents", {"person_id": person_id, "purposes": ["rujukan_ltsa"],
                                        "notice_version": "2024-10", "method": "centang",
                                        "given_at": "2026-11-01T03:00:00+00:00"})
    plan_id = phone.new("migration_plans", {"person_id": person_id,
                                            "destination_country": "TW", "sector": "plrt"})
    phone.sync()
    ltsa.sync_all()
    phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    phone.sync()
    ltsa.sync_all()
    assert {("consents", consent_id), ("migration_plans", plan_id)} <= set(ltsa.records)


def test_a_stale_web_edit_logs_every_value_it_replaces_unseen(client, officer):
    phone = Phone(client, officer)
    visit_id = phone.new("visits", VISIT)
    phone.sync()
    shown = client.get(f"/api/visits/{visit_id}", headers=officer.headers)
    version = shown.headers["ETag"]
    phone.edit("visits", visit_id, {"rw": "009", "dusun": "Dusun HP"})
    phone.sync()
    response = client.patch(f"/api/visits/{visit_id}", json={"rw": "007", "dusun": "Dusun Web"},
                            headers=dict(officer.headers, **{"If-Match": version}))
    assert response.status_code == 200, response.get_json()
    lost = db.session.execute(sa.select(ConflictEntry.field, ConflictEntry.losing_value)
                              ).all()
    assert sorted(lost) == [("dusun", "Dusun HP"), ("rw", "009")]


def test_two_lost_answers_in_a_row_keep_both_refusals(client, officer):
    phone = Phone(client, officer)
    phone.new("visits", dict(VISIT, desa_code=DESA_B))
    first = phone.body()
    client.post("/api/sync", json=first, headers=officer.headers)  # answer lost
    phone.new("visits", dict(VISIT, desa_code=DESA_B))
    second = phone.body()
    client.post("/api/sync", json=second, headers=officer.headers)  # answer lost again
    again = client.post("/api/sync", json=second, headers=officer.headers).get_json()
    assert again["skipped"] == [1, 2]
    assert [r["mutation_id"] for r in again["refused"]] == [1, 2]


def test_one_batch_writes_a_person_their_consent_referral_and_duplicate(client, officer,
                                                                       make_account):
    """The rows of a batch are flushed once, at its end: the policies of each record still
    find the records before it in the same batch (a new person's consent and referral, a
    duplicate of a person registered just before), and the desk is told."""
    desk = make_account("ltsa")
    phone = Phone(client, officer)
    person_id = phone.new("persons", dict(PERSON, nik="3209015204980001"))
    consent_id = phone.new("consents", {"person_id": person_id, "purposes": ["rujukan_ltsa"],
                                        "notice_version": "2024-10", "method": "centang",
                                        "given_at": "2026-11-01T03:00:00+00:00"})
    plan_id = phone.new("migration_plans", {"person_id": person_id,
                                            "destination_country": "TW", "sector": "plrt"})
    referral_id = phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    twin_id = phone.new("persons", dict(PERSON, name="Siti Nurhasana", nik="3209015204980001"))
    # On the basis of consent, the referral's check reads the consent (a flush mid-batch).
    other_id = phone.new("persons", dict(PERSON, name="Imas", lawful_basis="persetujuan",
                                         birth_date="1990-01-01"))
    phone.new("consents", {"person_id": other_id, "purposes": ["rujukan_ltsa"],
                           "notice_version": "2024-10", "method": "centang",
                           "given_at": "2026-11-01T03:00:00+00:00"})
    other_referral_id = phone.new("referrals", {"person_id": other_id,
                                                "services": ["bantuan_hukum"]})
    answer = phone.sync()
    assert answer["refused"] == [] and len(answer["applied"]) == 8
    assert db.session.get(Referral, other_referral_id).status == "terkirim"
    assert db.session.get(MigrationPlan, plan_id).person_id == person_id
    referral = db.session.get(Referral, referral_id)
    assert referral.status == "terkirim" and referral.desa_code == DESA_A
    assert db.session.get(ReferralEvent, first_event_id(referral_id)) is not None
    pair = db.session.execute(sa.select(PossibleDuplicate)).scalar_one()
    assert {pair.person_id, pair.other_person_id} == {person_id, twin_id}
    assert pair.match == "nik"
    told = db.session.execute(sa.select(Notification.user_id, Notification.referral_id)).all()
    assert sorted(told) == sorted([(desk.user_id, referral_id),
                                   (desk.user_id, other_referral_id)])
    assert db.session.get(Consent, consent_id).person_id == person_id
