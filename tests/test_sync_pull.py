"""What a pull brings: conflict entries follow their record into a scope, a full download
finishes after a purge, and a record that leaves a scope is removed from that scope's phones."""

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import ConflictEntry
from server.models import Organisation
from sync import sequence
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

PERSON = {"name": "Siti Nurhasanah", "sex": "P", "birth_date": "1998-04-12",
          "phone": "0812-3456-7890", "desa_code": DESA_A, "migration_status": "calon_potensial",
          "lawful_basis": "tugas_publik", "address": "Blok Kliwon RT 02"}
PLAN = {"destination_country": "MY", "agency_name": "PT Maju"}


def organisation_id(code: str) -> int:
    return db.session.execute(sa.select(Organisation.id).where(Organisation.code == code)
                              ).scalar_one()


def conflicted(a: Phone, b: Phone, entity: str, record_id: str, field: str) -> None:
    """Two phones of the desa change one field offline: one value loses, and is logged."""
    a.edit(entity, record_id, {field: f"{field} dari A"})
    b.wall_ms = a.wall_ms + 5000
    b.edit(entity, record_id, {field: f"{field} dari B"})
    b.sync()
    a.sync()


def entries_of(phone: Phone, record_id: str) -> set:
    return {(c["field"], c["losing_value"]) for c in phone.conflicts.values()
            if c["record_id"] == record_id}


@pytest.fixture
def village(client, make_account):
    a = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-a")
    b = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-b")
    return a, b


def test_conflicts_follow_a_referral_to_the_desk_and_the_partner(client, village,
                                                                 make_account):
    a, b = village
    desk = Phone(client, make_account("ltsa"))
    partner = Phone(client, make_account("partner", organisation_code="sbmi"))
    person_id = a.new("persons", PERSON)
    a.sync()
    b.sync_all()
    conflicted(a, b, "persons", person_id, "address")
    referral_id = a.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"],
                                      "reason": "Perlu bantuan"})
    a.sync()
    b.sync_all()
    conflicted(a, b, "referrals", referral_id, "reason")
    # The desk and the partner synced before: their cursors are past these entries...
    desk.sync_all()
    partner.sync_all()
    assert entries_of(partner, referral_id) == set()
    # ... yet the desk got them with the referral (it was readable when they were pulled),
    # and the partner gets them when the referral is forwarded to it.
    assert entries_of(desk, person_id) == {("address", "address dari A")}
    response = client.post(f"/api/referrals/{referral_id}/events",
                           json={"kind": "status", "status": "dirujuk_lanjut",
                                 "organisation_id": organisation_id("sbmi")},
                           headers=desk.account.headers)
    assert response.status_code == 201, response.get_json()
    partner.sync_all()
    assert entries_of(partner, referral_id) == {("reason", "reason dari A")}
    # Without consent to follow-up contact the partner does not receive an address: the
    # entry comes with its value withheld (server/domain/disclosure.py).
    assert entries_of(partner, person_id) == {("address", "")}


def test_conflicts_of_a_person_follow_a_later_referral_to_the_desk(client, village,
                                                                   make_account):
    a, b = village
    desk = Phone(client, make_account("ltsa"))
    person_id = a.new("persons", PERSON)
    a.sync()
    b.sync_all()
    conflicted(a, b, "persons", person_id, "address")
    desk.sync_all()
    assert entries_of(desk, person_id) == set()
    a.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    a.sync()
    desk.sync_all()
    assert entries_of(desk, person_id) == {("address", "address dari A")}
    # A fresh install of the desk holds the same.
    fresh = Phone(client, desk.account)
    fresh.sync_all()
    assert entries_of(fresh, person_id) == entries_of(desk, person_id)


@pytest.mark.parametrize("purged_at", ["start", "between pages"])
def test_a_full_download_after_a_purge_completes(client, village, make_account, purged_at):
    a, _ = village
    for i in range(12):
        a.new("visits", dict(VISIT, notes=f"kunjungan {i}"))
    a.sync()
    deleted = a.new("visits", VISIT)
    a.sync()
    a.edit("visits", deleted, {}, op="delete")
    a.sync()
    if purged_at == "start":
        sequence.set_purged_below(db.session, sequence.high_water(db.session) + 1)
        db.session.commit()
    reader = Phone(client, make_account("officer", desa_code=DESA_A))
    answer = reader.sync(pull_limit=4)
    assert answer["more"] and answer["snapshot"] is not None
    if purged_at == "between pages":
        sequence.set_purged_below(db.session, sequence.high_water(db.session) + 1)
        db.session.commit()
    pages = 1
    while answer["more"]:
        answer = reader.sync(pull_limit=4)
        assert answer["reset"] is None
        pages += 1
    assert pages == 4 and answer["snapshot"] is None
    visits = {i for (entity, i) in reader.records if entity == "visits"}
    assert visits == {i for (entity, i) in a.records if entity == "visits"}
    assert len(visits) == 13


def test_a_purge_of_a_deletion_made_during_the_download_still_expires_it(client, village,
                                                                         make_account):
    a, _ = village
    ids = [a.new("visits", dict(VISIT, notes=f"kunjungan {i}")) for i in range(8)]
    a.sync()
    reader = Phone(client, make_account("officer", desa_code=DESA_A))
    reader.sync(pull_limit=4)
    # A record the reader already holds is deleted, and that tombstone purged: the reader
    # could never learn of the deletion, so it must start over.
    a.edit("visits", ids[0], {}, op="delete")
    a.sync()
    sequence.set_purged_below(db.session, sequence.high_water(db.session) + 1)
    db.session.commit()
    assert reader.sync(pull_limit=4)["reset"] == "cursor_expired"


def test_a_person_moved_to_another_desa_leaves_the_old_desas_phones(client, village,
                                                                    make_account):
    a, b = village
    admin = make_account("admin", desa_code=None)
    person_id = a.new("persons", PERSON)
    plan_id = a.new("migration_plans", dict(PLAN, person_id=person_id))
    kept = a.new("persons", dict(PERSON, name="Tetap di sini"))
    a.sync()
    b.sync_all()
    conflicted(a, b, "persons", person_id, "address")
    b.sync_all()
    assert entries_of(b, person_id)
    newcomer = Phone(client, make_account("officer", desa_code=DESA_B))
    newcomer.sync_all()
    # Phone a has an unsent edit of the person: it is pushed and answered first.
    a.edit("persons", person_id, {"phone": "0813-0000-1111"})
    response = client.patch(f"/api/persons/{person_id}", json={"desa_code": DESA_B},
                            headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    answer = a.sync()
    assert answer["refused"][0]["reason"] == "not_found" and a.outbox == []
    b.sync_all()
    for phone in (a, b):
        gone = {(r["entity"], r["id"], r["reason"]) for r in phone.removed}
        assert gone == {("persons", person_id, "scope_left"),
                        ("migration_plans", plan_id, "scope_left")}
        assert ("persons", person_id) not in phone.records
        assert ("migration_plans", plan_id) not in phone.records
        assert ("persons", kept) in phone.records
        assert entries_of(phone, person_id) == set()
    # The new desa gets the person with the plan and the conflicts.
    newcomer.sync_all()
    assert ("persons", person_id) in newcomer.records
    assert ("migration_plans", plan_id) in newcomer.records
    assert entries_of(newcomer, person_id) == {("address", "address dari A")}
    assert newcomer.removed == []


def test_a_referral_forwarded_away_leaves_the_partners_phones(client, village, make_account):
    a, _ = village
    desk = Phone(client, make_account("ltsa"))
    partner = Phone(client, make_account("partner", organisation_code="sbmi"))
    person_id = a.new("persons", PERSON)
    referral_id = a.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    # Another referral of the person, never forwarded: SBMI must not even learn its id.
    other = a.new("referrals", {"person_id": person_id, "services": ["informasi_migrasi_aman"]})
    a.sync()
    for code in ("sbmi", "wcc_mawar_balqis"):
        # Forwarded to SBMI, then on to WCC: SBMI no longer reads it.
        response = client.post(f"/api/referrals/{referral_id}/events",
                               json={"kind": "status", "status": "dirujuk_lanjut",
                                     "organisation_id": organisation_id(code)},
                               headers=desk.account.headers)
        assert response.status_code == 201, response.get_json()
        partner.sync_all()
        if code == "sbmi":
            assert ("referrals", referral_id) in partner.records
            assert partner.removed == []
    gone = {(r["entity"], r["id"]) for r in partner.removed}
    assert ("referrals", referral_id) in gone and ("persons", person_id) in gone
    assert other not in {r["id"] for r in partner.removed}
    assert not [key for key in partner.records if key[0] in ("referrals", "persons",
                                                              "referral_events")]
    assert db.session.execute(sa.select(sa.func.count()).select_from(ConflictEntry)
                              ).scalar_one() == 0


def test_a_visit_moved_to_another_group_leaves_the_old_groups_phones(client, village,
                                                                     make_account):
    from server.models import CommunityGroup

    a, _ = village
    admin = make_account("admin", desa_code=None)
    old, new = (CommunityGroup(name=name, desa_code=DESA_A) for name in ("Pokmas A", "Pokmas B"))
    db.session.add_all([old, new])
    db.session.commit()
    member = Phone(client, make_account("community", group_id=old.id))
    other = Phone(client, make_account("community", group_id=new.id))
    visit_id = a.new("visits", dict(VISIT, community_group_id=old.id))
    own = member.new("visits", dict(VISIT, community_group_id=old.id))
    a.sync()
    member.sync_all()
    other.sync_all()
    assert ("visits", visit_id) in member.records
    for record_id in (visit_id, own):
        response = client.patch(f"/api/visits/{record_id}", headers=admin.headers,
                                json={"community_group_id": new.id})
        assert response.status_code == 200, response.get_json()
    member.sync_all()
    # The visit an officer made for the group leaves its members' phones; the one a member
    # made stays with them (they read what they recorded), and both reach the new group.
    assert member.removed == [{"entity": "visits", "id": visit_id, "reason": "scope_left"}]
    assert ("visits", visit_id) not in member.records and ("visits", own) in member.records
    a.sync_all()
    assert a.removed == [] and ("visits", visit_id) in a.records
    other.sync_all()
    assert {("visits", visit_id), ("visits", own)} <= set(other.records)


def test_a_conflict_resolved_offline_is_resolved_on_the_server(client, village):
    a, b = village
    person_id = a.new("persons", PERSON)
    other_id = a.new("persons", dict(PERSON, name="Warga lain"))
    a.sync()
    b.sync_all()
    conflicted(a, b, "persons", person_id, "address")
    conflicted(a, b, "persons", other_id, "address")
    b.sync_all()
    (mine,) = [c for c in b.conflicts.values() if c["record_id"] == person_id]
    (theirs,) = [c for c in b.conflicts.values() if c["record_id"] == other_id]
    # Offline, b keeps the losing value: an ordinary edit of the field that names the
    # entry it settles. A `resolves` naming another record's entry is passed over.
    ids = {c_id for c_id, c in b.conflicts.items() if c["record_id"] in (person_id, other_id)}
    mutation = b.edit("persons", person_id, {"address": mine["losing_value"]})
    mutation["resolves"] = sorted(ids)
    answer = b.sync()
    assert answer["applied"] == [mutation["mutation_id"]], answer
    db.session.expire_all()
    entries = {e.record_id: e for e in db.session.execute(sa.select(ConflictEntry)).scalars()}
    assert entries[person_id].resolved_at is not None
    assert entries[person_id].resolved_by_id == b.account.user_id
    assert entries[other_id].resolved_at is None
    # The other phone learns that it is settled.
    a.sync_all()
    assert a.conflicts[entries[person_id].id]["resolved_at"] is not None
    assert theirs["resolved_at"] is None
