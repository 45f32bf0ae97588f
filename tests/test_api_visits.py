"""Outreach visits through the JSON API: record, validate, list, correct."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import CommunityGroup
from server.models import OutreachVisit
from server.schemas.records import today
from sync import hlc
from sync import merge
from tests.conftest import DESA_A
from tests.conftest import DESA_B

pytestmark = pytest.mark.usefixtures("fast_passwords")


def visit(**changes) -> dict:
    body = {"visit_type": "sosialisasi", "visit_date": today().isoformat(), "desa_code": DESA_A,
            "dusun": "Dusun Manis", "rt": "3", "rw": "005",
            "topics": ["hak_kewajiban", "biaya_penempatan", "hak_kewajiban"],
            "participants_male": 4, "participants_female": 11, "participants_children": 2,
            "notes": "Balai desa"}
    return body | changes


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_officer_records_a_visit(client, make_account):
    officer = make_account("officer")
    client_id = str(uuid.uuid4())
    response = client.post("/api/visits", json=visit(id=client_id), headers=officer.headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] == client_id
    assert body["visit_type_label"] == "Sosialisasi"
    assert body["desa_name"] == "Waled Desa"
    assert (body["rt"], body["rw"]) == ("003", "005")
    assert body["topics"] == ["hak_kewajiban", "biaya_penempatan"]
    assert body["participants_total"] == 17
    assert body["created_by_id"] == officer.user_id
    assert body["community_group_id"] is None
    stored = db.session.get(OutreachVisit, client_id)
    # The write took a change sequence: phones pull it.
    assert stored.change_seq > 0
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.entity == "visit")
                               ).scalar_one()
    assert (entry.action, entry.entity_id, entry.user_id) == ("create", client_id,
                                                              officer.user_id)


def test_children_are_counted_apart_from_men_and_women(client, make_account):
    officer = make_account("officer")
    body = visit(participants_male=0, participants_female=0, participants_children=25)
    response = client.post("/api/visits", json=body, headers=officer.headers)
    assert response.status_code == 201
    assert response.get_json()["participants_total"] == 25


def test_sending_a_visit_again_returns_it_once(client, make_account):
    officer = make_account("officer")
    body = visit(id=str(uuid.uuid4()))
    assert client.post("/api/visits", json=body, headers=officer.headers).status_code == 201
    again = client.post("/api/visits", json=body, headers=officer.headers)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert count(OutreachVisit) == 1
    # Someone else's id is not theirs to reuse.
    other = make_account("officer")
    taken = client.post("/api/visits", json=body, headers=other.headers)
    assert taken.status_code == 409
    assert count(OutreachVisit) == 1


INVALID_VISITS = [
    ({"color": "red"}, "color", "Unknown field."),
    ({"created_by_id": 1}, "created_by_id", "Unknown field."),
    ({"visit_type": "rapat"}, "visit_type", "Must be one of: sosialisasi"),
    ({"visit_date": "2025-02-30"}, "visit_date", "Not a valid date."),
    ({"visit_date": (today() + dt.timedelta(days=1)).isoformat()}, "visit_date",
     "The date cannot be in the future."),
    ({"desa_code": "32.09.01"}, "desa_code", "Choose a desa/kelurahan in Kabupaten Cirebon."),
    ({"desa_code": "32.74.01.1001"}, "desa_code", "Choose a desa/kelurahan"),
    ({"rt": "1234"}, "rt", "RT/RW has 1–3 digits"),
    ({"rw": "0"}, "rw", "RT/RW has 1–3 digits"),
    ({"rw": 5}, "rw", "Not a valid string."),
    ({"participants_male": -1}, "participants_male", "Must be greater than or equal to 0"),
    ({"participants_female": 2.5}, "participants_female", "Not a valid integer."),
    ({"participants_children": "3"}, "participants_children", "Not a valid integer."),
    ({"id": "not-a-uuid"}, "id", "Not a valid UUID."),
]


def test_invalid_visit_is_refused_naming_the_field(client, make_account, subtests):
    officer = make_account("officer")
    for changes, field, en in INVALID_VISITS:
        with subtests.test(changes=changes):
            response = client.post("/api/visits", json=visit(**changes),
                                   headers=officer.headers)
            assert response.status_code == 422
            messages = response.get_json()["error"]["fields"][field]
            assert messages[0]["en"].startswith(en), messages
            assert messages[0]["id"] and messages[0]["id"] != messages[0]["en"]
    assert count(OutreachVisit) == 0


def test_each_bad_field_is_named_and_topics_by_position(client, make_account):
    officer = make_account("officer")
    body = visit(topics=["risiko", "astrologi"], visit_type=None, participants_male=True)
    del body["desa_code"]
    fields = client.post("/api/visits", json=body, headers=officer.headers
                         ).get_json()["error"]["fields"]
    assert set(fields) == {"topics", "visit_type", "participants_male", "desa_code"}
    assert fields["topics"] == {"1": [{"id": fields["topics"]["1"][0]["id"],
                                       "en": fields["topics"]["1"][0]["en"]}]}
    assert fields["desa_code"] == [{"id": "Wajib diisi.",
                                    "en": "Missing data for required field."}]
    assert fields["visit_type"][0]["id"] == "Tidak boleh kosong."


def test_community_member_records_for_their_own_group(app, client, make_account):
    member = make_account("community")
    group_id = db.session.get(CommunityGroup, db.session.execute(
        sa.select(CommunityGroup.id)).scalar_one()).id
    response = client.post("/api/visits", json=visit(), headers=member.headers)
    assert response.status_code == 201
    assert response.get_json()["community_group_id"] == group_id
    other_group = CommunityGroup(name="Pokmas lain", desa_code=DESA_A)
    db.session.add(other_group)
    db.session.commit()
    refused = client.post("/api/visits", json=visit(community_group_id=other_group.id),
                          headers=member.headers)
    assert refused.status_code == 403
    assert count(OutreachVisit) == 1


def test_officer_names_a_group_of_the_visits_desa(client, make_account):
    officer = make_account("officer")
    here = CommunityGroup(name="Pokmas Waled", desa_code=DESA_A)
    there = CommunityGroup(name="Pokmas Ciledug", desa_code=DESA_B)
    db.session.add_all([here, there])
    db.session.commit()
    ok = client.post("/api/visits", json=visit(community_group_id=here.id),
                     headers=officer.headers)
    assert ok.status_code == 201 and ok.get_json()["community_group_id"] == here.id
    wrong = client.post("/api/visits", json=visit(community_group_id=there.id),
                        headers=officer.headers)
    assert wrong.status_code == 422 and "community_group_id" in wrong.get_json()["error"]["fields"]


def test_list_filters_and_pages(client, make_account):
    officer = make_account("officer")
    day = today()
    for days_ago, visit_type in [(0, "sosialisasi"), (3, "kunjungan_rumah"), (10, "sosialisasi")]:
        body = visit(visit_date=(day - dt.timedelta(days=days_ago)).isoformat(),
                     visit_type=visit_type)
        assert client.post("/api/visits", json=body, headers=officer.headers).status_code == 201

    def dates(query):
        body = client.get(f"/api/visits?{query}", headers=officer.headers).get_json()
        return [v["visit_date"] for v in body["items"]], body["total"]

    newest_first = [(day - dt.timedelta(days=n)).isoformat() for n in (0, 3, 10)]
    assert dates("") == (newest_first, 3)
    assert dates("visit_type=sosialisasi") == ([newest_first[0], newest_first[2]], 2)
    since = (day - dt.timedelta(days=5)).isoformat()
    assert dates(f"date_from={since}") == (newest_first[:2], 2)
    assert dates(f"date_to={since}&desa_code={DESA_A}") == (newest_first[2:], 1)
    assert dates(f"desa_code={DESA_B}") == ([], 0)
    page = client.get("/api/visits?per_page=2&page=2", headers=officer.headers).get_json()
    assert (page["page"], page["per_page"], page["total"]) == (2, 2, 3)
    assert [v["visit_date"] for v in page["items"]] == newest_first[2:]


BAD_QUERIES = [
    ("date_from=2026-05-02&date_to=2026-05-01", 422, "date_to"),
    ("date_from=kemarin", 422, "date_from"),
    ("visit_type=rapat", 422, "visit_type"),
    ("per_page=100000", 400, None),
    ("page=zero", 400, None),
]


def test_bad_list_queries(client, make_account, subtests):
    officer = make_account("officer")
    for query, status, field in BAD_QUERIES:
        with subtests.test(query=query):
            response = client.get(f"/api/visits?{query}", headers=officer.headers)
            assert response.status_code == status
            if field:
                assert field in response.get_json()["error"]["fields"]


def test_patch_changes_only_what_is_sent(client, make_account):
    officer = make_account("officer")
    created = client.post("/api/visits", json=visit(), headers=officer.headers).get_json()
    url = f"/api/visits/{created['id']}"
    response = client.patch(url, json={"notes": "Dipindah ke masjid", "participants_male": 6},
                            headers=officer.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["notes"], body["participants_male"], body["participants_female"]) == (
        "Dipindah ke masjid", 6, 11)
    actions = db.session.execute(sa.select(AuditEntry.action).where(
        AuditEntry.entity == "visit").order_by(AuditEntry.id)).scalars().all()
    assert actions == ["create", "update"]


REFUSED_PATCHES = [
    ({"id": str(uuid.uuid4())}, 422),
    ({"participants_female": -3, "notes": "x"}, 422),
    ({"visit_date": "3000-01-01"}, 422),
    ({"desa_code": DESA_B}, 403),
]


def test_refused_patch_changes_nothing(client, make_account, subtests):
    officer = make_account("officer")
    created = client.post("/api/visits", json=visit(), headers=officer.headers).get_json()
    for patch, status in REFUSED_PATCHES:
        with subtests.test(patch=patch):
            response = client.patch(f"/api/visits/{created['id']}", json=patch,
                                    headers=officer.headers)
            assert response.status_code == status
            db.session.expire_all()
            stored = db.session.get(OutreachVisit, created["id"])
            assert (stored.desa_code, stored.notes, stored.participants_female) == (
                DESA_A, "Balai desa", 11)


def test_unknown_visit_is_404_and_body_must_be_json(client, make_account):
    officer = make_account("officer")
    assert client.get(f"/api/visits/{uuid.uuid4()}", headers=officer.headers).status_code == 404
    response = client.post("/api/visits", data="x", headers=officer.headers)
    assert response.status_code == 415


def test_api_writes_are_booked_for_the_merge(client, make_account):
    # A phone edit made before the desk's change but arriving after it must lose to it and
    # land in the conflict log, not overwrite it silently.
    officer = make_account("officer")
    created = client.post("/api/visits", json=visit(), headers=officer.headers).get_json()
    first_clock = db.session.get(OutreachVisit, created["id"]).field_clocks["notes"]
    client.patch(f"/api/visits/{created['id']}", json={"notes": "Dari meja"},
                 headers=officer.headers)
    db.session.expire_all()
    stored = db.session.get(OutreachVisit, created["id"])
    clock = stored.field_clocks["notes"]
    assert hlc.node_of(clock) == "server" and clock > first_clock
    assert stored.sync_meta["_authors"]["notes"] == str(officer.user_id)
    assert stored.sync_meta["_bases"]["notes"] == first_clock
    record = merge.new_record(stored.id) | {
        "notes": stored.notes, "_clocks": stored.field_clocks,
        "_authors": stored.sync_meta["_authors"], "_bases": stored.sync_meta["_bases"]}
    late = hlc.encode(hlc.wall_of(clock) - 1, 0, "phone-7")
    after, conflicts = merge.apply_mutation(record, {
        "entity": "visit", "id": stored.id, "op": "upsert", "fields": {"notes": "Dari HP"},
        "hlc": late, "node": "phone-7", "author": "99", "base": {"notes": first_clock}}, {})
    assert after["notes"] == "Dari meja"
    assert [(c["losing_value"], c["winning_author"], c["reason"]) for c in conflicts] == [
        ("Dari HP", str(officer.user_id), "concurrent_edit")]
