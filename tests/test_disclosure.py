"""Least data per role: which fields each role receives, on every channel, as one table.

One world: a community member of desa A registered two persons with the same NIK (a possible
duplicate), each with a phone and an address, referred both, and the LTSA forwarded them to
SBMI; the member's group recorded a visit with its place and notes; two phones disagreed
over the first person's NIK and phone (the conflict log holds both values). Each role then
reads the persons through the API (one, the list, the duplicate check, the possible
duplicates), the sync pull and the conflict log (API and pull), and the visits.
"""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from server.domain import disclosure
from server.extensions import db
from server.models import AuditEntry
from server.models import CommunityGroup
from server.models import ConflictEntry
from server.models import Consent
from server.models import Organisation
from server.models import OutreachVisit
from server.models import Person
from server.models import PossibleDuplicate
from server.models import Referral
from server.models import utcnow
from server.schemas.records import today
from sync import hlc
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

NIK = "3209014506900001"
MASKED = "3209********0001"
OTHER_NIK = "3209011203850002"  # the value that lost the conflict
OTHER_MASKED = "3209********0002"
PHONE = "+6281234567890"
ADDRESS = "Blok Kliwon RT 002 RW 001"
NOTES = "Sosialisasi di rumah Bu Sari"
CONTACT = {"phone": PHONE, "address": ADDRESS}
WITHHELD = {"phone": None, "address": ""}

# role -> (receives phone and address, reads visits)
TABLE = {
    "officer": (True, True),
    "community": (True, True),
    "ltsa": (True, False),
    "partner": (False, False),
    "partner_with_contact_consent": (True, False),
    "admin": (True, True),
}
# Who may see a NIK in full (online, audited), and what the others get.
REVEAL = {"officer": 200, "community": 403, "ltsa": 200, "partner": 403, "admin": 200,
          "officer_other_desa": 404}


@dataclass
class World:
    creator: object
    group_id: str
    person: str
    twin: str
    visit: str


def build_world(make_account) -> World:
    group = CommunityGroup(name="Pokmas Waled", desa_code=DESA_A)
    db.session.add(group)
    db.session.flush()
    creator = make_account("community", group_id=group.id)
    by = {"created_by_id": creator.user_id}
    sbmi = db.session.execute(sa.select(Organisation.id).where(Organisation.code == "sbmi")
                              ).scalar_one()
    persons = [Person(name=name, nik=NIK, sex="P", desa_code=DESA_A, migration_status="cpmi",
                      lawful_basis="persetujuan", community_group_id=group.id, **CONTACT, **by)
               for name in ("Sari Wulandari", "Sari Wulandari K")]
    visit = OutreachVisit(visit_type="sosialisasi", visit_date=today(), desa_code=DESA_A,
                          community_group_id=group.id, dusun="Kliwon", rt="002", rw="001",
                          notes=NOTES, participants_female=5, **by)
    db.session.add_all([*persons, visit])
    db.session.flush()
    for person in persons:
        db.session.add_all([
            Consent(person_id=person.id, purposes=["pencatatan", "rujukan_ltsa"],
                    notice_version="1", method="tanda_tangan", given_at=utcnow(), **by),
            Referral(person_id=person.id, desa_code=DESA_A, community_group_id=group.id,
                     services=["pengaduan_kasus"], status="dirujuk_lanjut",
                     assigned_organisation_id=sbmi, **by)])
    first, twin = persons
    db.session.add(PossibleDuplicate(person_id=first.id, other_person_id=twin.id, match="nik"))
    early = hlc.now("hp-a")
    late = hlc.now("hp-b", last=early)
    for field, won, lost in (("nik", NIK, OTHER_NIK), ("phone", PHONE, "+6281111111111")):
        db.session.add(ConflictEntry(
            entity="persons", record_id=first.id, field=field, reason="concurrent_edit",
            winning_value=won, winning_hlc=late, losing_value=lost, losing_hlc=early))
    db.session.commit()
    return World(creator, group.id, first.id, twin.id, visit.id)


def account_of(role: str, world: World, make_account):
    if role == "community":
        return world.creator
    if role == "partner_with_contact_consent":
        db.session.add(Consent(person_id=world.person, purposes=["kontak_lanjutan"],
                               notice_version="1", method="tanda_tangan", given_at=utcnow(),
                               created_by_id=world.creator.user_id))
        db.session.commit()
        return make_account("partner", organisation_code="sbmi")
    if role == "officer_other_desa":
        return make_account("officer", desa_code=DESA_B)
    return make_account(role, desa_code=DESA_A)


def duplicate_check(client, account):
    """The duplicate check by NIK, with whichever method the endpoint takes."""
    rule = next(r for r in client.application.url_map.iter_rules()
                if r.rule == "/api/persons/duplicates")
    if "POST" in rule.methods:
        return client.post("/api/persons/duplicates", json={"nik": NIK},
                           headers=account.headers)
    return client.get("/api/persons/duplicates", query_string={"nik": NIK},
                      headers=account.headers)


def channels(client, account, world: World) -> tuple[dict, list[str]]:
    """channel -> the first person as received there; and every answer's text."""
    texts = []

    def get(url, **kwargs):
        response = client.get(url, headers=account.headers, **kwargs)
        assert response.status_code == 200, (url, response.get_json())
        texts.append(response.get_data(as_text=True))
        return response.get_json()

    got = {"api_get": get(f"/api/persons/{world.person}"),
           "api_list": next(p for p in get("/api/persons")["items"] if p["id"] == world.person)}
    response = duplicate_check(client, account)
    assert response.status_code == 200, response.get_json()
    texts.append(response.get_data(as_text=True))
    got["duplicate_check"] = next(item["person"] for item in response.get_json()["items"]
                                  if item["person"]["id"] == world.person)
    # Records that name the person: referrals (one and the list) and consents.
    referrals = get("/api/referrals", query_string={"person_id": world.person})["items"]
    get(f"/api/referrals/{referrals[0]['id']}")
    get(f"/api/persons/{world.person}/consents")
    pairs = get("/api/persons/possible-duplicates")["items"]
    if pairs:
        got["possible_duplicates"] = pairs[0]["person"]
        got["possible_duplicates_other"] = dict(pairs[0]["other_person"], id=world.person)
    phone = Phone(client, account)
    texts.append(repr(phone.sync_all()))
    change = phone.records[("persons", world.person)]
    texts.append(repr(phone.records) + repr(phone.conflicts))
    got["pull"] = dict(change["record"], withheld=(change.get("derived") or {}).get(
        "withheld", []))
    got["conflicts_api"] = {c["field"]: c for c in get(
        "/api/conflicts", query_string={"record_id": world.person})["items"]}
    got["conflicts_pull"] = {c["field"]: c for c in phone.conflicts.values()
                             if c["record_id"] == world.person}
    return got, texts


@pytest.mark.parametrize("role", list(TABLE))
def test_each_role_receives_its_fields_on_every_channel(client, make_account, subtests, role):
    world = build_world(make_account)
    account = account_of(role, world, make_account)
    contact, _ = TABLE[role]
    got, texts = channels(client, account, world)
    expected = CONTACT if contact else WITHHELD
    withheld = [] if contact else ["phone", "address"]
    for channel in ("api_get", "api_list", "duplicate_check", "possible_duplicates",
                    "possible_duplicates_other", "pull"):
        if channel not in got:
            continue  # possible duplicates are the officers', the LTSA's and admins'
        with subtests.test(channel=channel):
            person = got[channel]
            assert person["nik"] == MASKED
            assert {name: person[name] for name in expected} == expected
            assert person["withheld"] == withheld
    for channel in ("conflicts_api", "conflicts_pull"):
        with subtests.test(channel=channel):
            entries = got[channel]
            assert (entries["nik"]["winning_value"], entries["nik"]["losing_value"]) == (
                MASKED, OTHER_MASKED)
            phone_values = (entries["phone"]["winning_value"], entries["phone"]["losing_value"])
            assert phone_values == ((PHONE, "+6281111111111") if contact else (None, None))
    with subtests.test(channel="no full NIK anywhere"):
        for text in texts:
            assert NIK not in text and OTHER_NIK not in text
    if not contact:
        with subtests.test(channel="no contact anywhere"):
            for text in texts:
                assert PHONE not in text and ADDRESS not in text


@pytest.mark.parametrize("role", list(TABLE))
def test_visits_only_for_the_village_side(client, make_account, role):
    world = build_world(make_account)
    account = account_of(role, world, make_account)
    _, reads_visits = TABLE[role]
    listed = client.get("/api/visits", headers=account.headers)
    assert listed.status_code == 200
    one = client.get(f"/api/visits/{world.visit}", headers=account.headers)
    phone = Phone(client, account)
    answer = phone.sync_all()
    pulled = phone.records.get(("visits", world.visit))
    if not reads_visits:
        # The desk reads visit counts in the reports, never visits.
        assert listed.get_json()["items"] == []
        assert one.status_code == 404
        assert pulled is None and NOTES not in repr(answer)
        return
    assert [v["id"] for v in listed.get_json()["items"]] == [world.visit]
    for visit in (one.get_json(), listed.get_json()["items"][0], pulled["record"]):
        assert (visit["dusun"], visit["rt"], visit["rw"], visit["notes"]) == (
            "Kliwon", "002", "001", NOTES)
    assert one.get_json()["withheld"] == [] and "withheld" not in (pulled.get("derived") or {})


@pytest.mark.parametrize(("value", "masked"), [
    (NIK, MASKED), (None, None), ("", ""), ("3271010101010001", "3271********0001")])
def test_a_nik_is_masked_to_its_first_and_last_four_digits(value, masked):
    assert disclosure.mask_nik(value) == masked
    assert disclosure.is_masked_nik(masked) is bool(masked)
    assert disclosure.is_masked_nik(value) is False


def test_choosing_a_masked_nik_in_the_conflict_log_keeps_the_value_it_stands_for(
        client, make_account):
    world = build_world(make_account)
    officer = make_account("officer", desa_code=DESA_A)
    entries = client.get("/api/conflicts", query_string={"record_id": world.person},
                         headers=officer.headers).get_json()["items"]
    entry = next(e for e in entries if e["field"] == "nik")
    assert entry["losing_value"] == OTHER_MASKED
    response = client.post(f"/api/conflicts/{entry['id']}/resolve",
                           json={"value": OTHER_MASKED}, headers=officer.headers)
    assert response.status_code == 200, response.get_json()
    assert OTHER_NIK not in response.get_data(as_text=True)
    assert db.session.get(Person, world.person).nik == OTHER_NIK


@pytest.mark.parametrize("role", list(REVEAL))
def test_the_full_nik_is_revealed_online_to_document_roles_and_audited(client, make_account,
                                                                       role):
    world = build_world(make_account)
    account = account_of(role, world, make_account)
    response = client.post(f"/api/persons/{world.person}/nik", headers=account.headers)
    assert response.status_code == REVEAL[role], response.get_json()
    reveals = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "reveal_nik")).scalars().all()
    if REVEAL[role] != 200:
        assert NIK not in response.get_data(as_text=True) and reveals == []
        return
    assert response.get_json() == {"nik": NIK}
    assert "no-store" in response.headers["Cache-Control"]
    assert [(e.user_id, e.entity, e.entity_id) for e in reveals] == [
        (account.user_id, "person", world.person)]


def test_a_partner_loses_the_contact_when_the_consent_is_withdrawn(client, make_account):
    world = build_world(make_account)
    partner = account_of("partner_with_contact_consent", world, make_account)
    phone = Phone(client, partner)
    phone.sync_all()
    assert phone.record("persons", world.person)["phone"] == PHONE
    consent = db.session.execute(sa.select(Consent.id).where(
        Consent.person_id == world.person,
        Consent.purposes.is_not(None))).scalars().all()
    contact_consent = next(c for c in consent if "kontak_lanjutan" in db.session.get(
        Consent, c).purposes)
    response = client.post(f"/api/consents/{contact_consent}/withdraw",
                           headers=world.creator.headers)
    assert response.status_code == 200, response.get_json()
    phone.sync_all()  # a pull from the cursor it had: the person comes again
    change = phone.records[("persons", world.person)]
    assert (change["record"]["phone"], change["record"]["address"]) == (None, "")
    assert change["derived"]["withheld"] == ["phone", "address"]


def test_a_nik_typed_on_a_phone_comes_back_masked_with_its_clock(client, make_account):
    """The phone keeps a typed NIK only until the push is answered: the pull brings the
    masked value with the edit's own clock, so it is the server's state, not a conflict."""
    officer = make_account("officer", desa_code=DESA_A)
    phone = Phone(client, officer)
    person_id = phone.new("persons", {
        "name": "Wati", "nik": NIK, "sex": "P", "desa_code": DESA_A,
        "migration_status": "cpmi", "lawful_basis": "tugas_publik", "phone": "081234567890",
        "address": ADDRESS})
    stamp = phone.outbox[-1]["hlc"]
    answer = phone.sync_all()
    assert NIK not in repr(answer)
    record = phone.record("persons", person_id)
    assert record["nik"] == MASKED and record["_clocks"]["nik"] == stamp
    assert db.session.get(Person, person_id).nik == NIK
    assert phone.conflicts == {}
