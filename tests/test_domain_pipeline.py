"""One write path: the API books its writes as mutations of the server's node and applies
them through the sync engine, so each rule of server/domain holds on both paths alike."""

import uuid

import pytest
import sqlalchemy as sa

from server.domain.referrals import first_event_id
from server.extensions import db
from server.models import ConflictEntry
from server.models import OutreachVisit
from server.models import Person
from server.models import ReferralEvent
from sync import hlc
from tests.conftest import DESA_A
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

PERSON = {"name": "Warsini", "sex": "P", "birth_date": "1990-02-03", "desa_code": DESA_A,
          "migration_status": "cpmi", "lawful_basis": "tugas_publik"}
CONSENT = {"purposes": ["pencatatan"], "notice_version": "1", "method": "centang",
           "given_at": "2026-11-01T03:00:00+00:00"}


def test_the_first_event_has_the_same_derived_id_online_and_through_sync(client,
                                                                         make_account):
    officer = make_account("officer")
    person = client.post("/api/persons", json=PERSON, headers=officer.headers).get_json()
    online = client.post("/api/referrals", json={"person_id": person["id"],
                                                 "services": ["bantuan_hukum"]},
                         headers=officer.headers).get_json()
    phone = Phone(client, officer, wall_ms=hlc.wall_clock_ms())
    synced = phone.new("referrals", {"person_id": person["id"], "services": ["bantuan_hukum"]})
    assert phone.sync()["applied"] == [1]
    for referral_id in (online["id"], synced):
        (event,) = db.session.execute(sa.select(ReferralEvent).where(
            ReferralEvent.referral_id == referral_id)).scalars()
        assert (event.id, event.status) == (first_event_id(referral_id), "terkirim")
    assert online["events"][0]["id"] == first_event_id(online["id"])


def test_a_stale_web_edit_logs_another_web_users_value_too(client, make_account):
    first, second = make_account("officer"), make_account("officer")
    visit = client.post("/api/visits", json=VISIT, headers=first.headers).get_json()
    shown = client.get(f"/api/visits/{visit['id']}", headers=first.headers).headers["ETag"]
    client.patch(f"/api/visits/{visit['id']}", json={"dusun": "Dusun Kedua"},
                 headers=second.headers)
    response = client.patch(f"/api/visits/{visit['id']}", json={"dusun": "Dusun Pertama"},
                            headers=dict(first.headers, **{"If-Match": shown}))
    assert response.status_code == 200
    lost = db.session.execute(sa.select(ConflictEntry.field, ConflictEntry.losing_value,
                                        ConflictEntry.winning_value)).all()
    assert lost == [("dusun", "Dusun Kedua", "Dusun Pertama")]


def _archived_person(client, officer) -> str:
    person = client.post("/api/persons", json=PERSON, headers=officer.headers).get_json()
    assert client.post(f"/api/persons/{person['id']}/archive",
                       headers=officer.headers).status_code == 200
    return person["id"]


# (what, a mutation on the archived person's records: entity, fields or a function of the
# person id, op)
ARCHIVED_MUTATIONS = [
    ("change the person", "persons", None, {"address": "Alamat baru"}),
    ("add a consent", "consents", "new", lambda pid: CONSENT | {"person_id": pid}),
    ("add a migration plan", "migration_plans", "new",
     lambda pid: {"person_id": pid, "destination_country": "MY"}),
    ("refer the person", "referrals", "new",
     lambda pid: {"person_id": pid, "services": ["bantuan_hukum"]}),
]


def test_an_archived_person_changes_no_more_on_either_path(client, make_account, subtests):
    officer = make_account("officer")
    person_id = _archived_person(client, officer)
    db.session.expire_all()
    before = db.session.get(Person, person_id).change_seq
    for what, entity, record, fields in ARCHIVED_MUTATIONS:
        with subtests.test(what):
            phone = Phone(client, officer, wall_ms=hlc.wall_clock_ms())
            record_id = person_id if record is None else str(uuid.uuid4())
            phone.edit(entity, record_id, fields(person_id) if callable(fields) else fields)
            (refused,) = phone.sync()["refused"]
            assert refused["reason"] == "archived"
    db.session.expire_all()
    assert db.session.get(Person, person_id).change_seq == before
    online = client.patch(f"/api/persons/{person_id}", json={"address": "Alamat baru"},
                          headers=officer.headers)
    assert online.status_code == 409 and online.get_json()["error"]["code"] == "archived"
    consent = client.post(f"/api/persons/{person_id}/consents", json=CONSENT,
                          headers=officer.headers)
    assert consent.status_code == 409 and consent.get_json()["error"]["code"] == "archived"


def test_a_visit_for_a_group_of_another_desa_is_refused_on_both_paths(client, make_account):
    from server.models import CommunityGroup

    officer = make_account("officer")
    group = CommunityGroup(name="Pokmas luar", desa_code="32.09.02.2008")
    db.session.add(group)
    db.session.commit()
    online = client.post("/api/visits", json=VISIT | {"community_group_id": group.id},
                         headers=officer.headers)
    assert online.status_code == 422
    assert online.get_json()["error"]["code"] == "invalid"
    phone = Phone(client, officer, wall_ms=hlc.wall_clock_ms())
    phone.new("visits", VISIT | {"community_group_id": group.id})
    (refused,) = phone.sync()["refused"]
    assert refused["reason"] == "invalid"
    assert refused["fields"] == online.get_json()["error"]["fields"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutreachVisit)
                              ).scalar_one() == 0


PERSON = {"name": "Nurhayati", "sex": "P", "birth_date": "1995-07-17", "desa_code": DESA_A,
          "migration_status": "purna_pmi", "lawful_basis": "persetujuan",
          "consent": {"purposes": ["pencatatan", "rujukan_ltsa"], "notice_version": "1",
                      "method": "centang", "given_at": "2026-11-01T03:00:00+00:00"}}
REFERRAL = {"services": ["pengaduan_kasus"], "reason": "Gaji tidak dibayar",
            "case_category": "gaji_tidak_dibayar", "urgency": "segera"}

# (case, role of the phone, its edit, whether the role may make it). The phone edits a
# referral offline, an officer then changes the same field online: the phone's write is
# older and loses the merge, but it would reach the conflict log, where anyone may later
# choose it. So the writer's right to make it is checked as if it had won.
LOST_WRITES = [
    ("the desk's reason of a referral", "ltsa", {"reason": "diubah meja LTSA"}, False),
    ("another officer's reason of a referral", "officer", {"reason": "diubah HP kedua"}, True),
]


def test_a_write_that_loses_the_merge_needs_the_right_to_make_it(client, make_account,
                                                                  subtests):
    for case, role, edit, allowed in LOST_WRITES:
        with subtests.test(case):
            officer = make_account("officer")
            person = client.post("/api/persons", json=PERSON, headers=officer.headers)
            referral = client.post("/api/referrals", headers=officer.headers,
                                   json=REFERRAL | {"person_id": person.get_json()["id"]})
            referral_id = referral.get_json()["id"]
            account = make_account(role)
            # Ten seconds behind (well inside the allowed skew): the edit is older than
            # the officer's online edit that follows it.
            phone = Phone(client, account, wall_ms=hlc.wall_clock_ms() - 10_000)
            phone.sync_all()
            phone.edit("referrals", referral_id, edit)
            online = client.patch(f"/api/referrals/{referral_id}", headers=officer.headers,
                                  json={"reason": "diubah perangkat di web"})
            assert online.status_code == 200, online.get_json()
            logged = db.session.execute(sa.select(sa.func.count()).select_from(ConflictEntry)
                                        ).scalar_one()
            answer = phone.sync()
            count = db.session.execute(sa.select(sa.func.count()).select_from(ConflictEntry)
                                       ).scalar_one()
            if allowed:
                assert (answer["applied"], answer["refused"]) == ([1], []), answer
                assert count == logged + 1
            else:
                assert [r["reason"] for r in answer["refused"]] == ["forbidden"], answer
                assert count == logged
