"""The rights of the person: access, correction, withdrawal of consent, erasure and the
retention purge, online and as phones see them.

The world: a community member of desa A registers Siti (consent to LTSA and partner
referral, a migration plan, a referral that the LTSA forwards to SBMI, a note of each side)
and her child; an officer of desa A registers a second record with Siti's NIK (a possible
duplicate). Phones of the officer, the community member, SBMI, the LTSA and an admin hold
what they may read.
"""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from server import cli_rights
from server import crypto
from server.domain import rights
from server.domain.common import today
from server.extensions import db
from server.models import AuditEntry
from server.models import ConflictEntry
from server.models import Consent
from server.models import Organisation
from server.models import Person
from server.models import PossibleDuplicate
from server.models import Referral
from server.models import utcnow
from sync import hlc
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.sync_helpers import Phone as _Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

NIK = "3209014101900001"
PHONE = "081234567890"
SECRETS = {
    "name": "Siti Aminah Rahasia", "nik": NIK, "phone": "81234567890",
    "address": "Blok Pahing Rahasia", "guardian": "Wali Rahasia", "agency": "PT Agen Rahasia",
    "reason": "Paspor ditahan agen rahasia", "note": "Catatan desk rahasia",
    "village_note": "Catatan desa rahasia", "outcome": "Hasil rahasia", "lost": "Blok Lama",
    "deleted_agency": "PT Agen Terhapus Rahasia",
}
PERSON = {"name": SECRETS["name"], "sex": "P", "birth_date": "1990-01-01", "nik": NIK,
          "phone": PHONE, "desa_code": DESA_A, "address": SECRETS["address"],
          "migration_status": "cpmi", "lawful_basis": "persetujuan"}
CONSENT = {"purposes": ["pencatatan", "rujukan_ltsa", "rujukan_mitra"],
           "notice_version": "2024-10", "method": "tanda_tangan"}
ENTITIES = ("persons", "consents", "migration_plans", "referrals", "referral_events")


def Phone(client, account) -> _Phone:  # noqa: N802 (reads as the class it makes)
    """A phone whose clock is the real one: its edits come after the server's."""
    return _Phone(client, account, wall_ms=hlc.wall_clock_ms())


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def child_birth() -> str:
    day = today()
    return day.replace(year=day.year - 10, day=1).isoformat()


@pytest.fixture
def world(client, make_account):
    members = {"community": make_account("community"), "officer": make_account("officer"),
               "ltsa": make_account("ltsa"), "partner": make_account("partner"),
               "admin": make_account("admin", desa_code=None)}
    member = members["community"]
    siti = ok(client.post("/api/persons", json=PERSON | {"consent": CONSENT},
                          headers=member.headers), 201)["id"]
    child = ok(client.post("/api/persons", headers=member.headers, json=PERSON | {
        "name": "Anak Rahasia", "nik": None, "birth_date": child_birth(),
        "consent": CONSENT | {"guardian_name": SECRETS["guardian"],
                              "guardian_relation": "ibu"}}), 201)["id"]
    ok(client.put(f"/api/persons/{siti}/migration-plans", headers=member.headers,
                  json={"destination_country": "TW", "agency_name": SECRETS["agency"]}), 201)
    referral = ok(client.post("/api/referrals", headers=member.headers, json={
        "person_id": siti, "services": ["pengaduan_kasus"], "reason": SECRETS["reason"],
        "urgency": "segera"}), 201)["id"]
    child_referral = ok(client.post("/api/referrals", headers=member.headers, json={
        "person_id": child, "services": ["informasi_migrasi_aman"],
        "reason": SECRETS["reason"]}), 201)["id"]
    sbmi = db.session.execute(sa.select(Organisation.id).where(Organisation.code == "sbmi")
                              ).scalar_one()
    events = f"/api/referrals/{referral}/events"
    ltsa = members["ltsa"].headers
    ok(client.post(events, headers=ltsa, json={"kind": "note", "note": SECRETS["note"]}), 201)
    ok(client.post(events, headers=member.headers,
                   json={"kind": "note", "note": SECRETS["village_note"],
                         "audience": "village"}), 201)
    ok(client.post(events, headers=ltsa, json={"kind": "status", "status": "dirujuk_lanjut",
                                               "organisation_id": sbmi}), 201)
    child_events = f"/api/referrals/{child_referral}/events"
    for step in ("diterima", "dilayani"):
        ok(client.post(child_events, headers=ltsa, json={"kind": "status", "status": step}),
           201)
    ok(client.post(child_events, headers=ltsa, json={
        "kind": "status", "status": "selesai", "outcome": SECRETS["outcome"]}), 201)
    twin = ok(client.post("/api/persons", headers=members["officer"].headers,
                          json=PERSON | {"name": "Siti Aminah Kembar", "lawful_basis":
                                         "tugas_publik", "address": "Blok Lain"}), 201)["id"]
    # A value that lost a merge, kept in the conflict log.
    db.session.add(ConflictEntry(entity="persons", record_id=siti, field="address",
                                 reason="concurrent_edit", winning_value=SECRETS["address"],
                                 losing_value=SECRETS["lost"], change_seq=0))
    db.session.commit()
    phones = {role: Phone(client, account) for role, account in members.items()}
    # A plan deleted on the member's phone: its tombstone keeps the values it had.
    deleted = phones["community"].new("migration_plans", {
        "person_id": siti, "destination_country": "HK", "agency_name": SECRETS["deleted_agency"]})
    phones["community"].edit("migration_plans", deleted, {}, op="delete")
    for phone in phones.values():
        phone.sync_all()
    assert not phones["community"].set_aside
    return {"accounts": members, "phones": phones, "siti": siti, "child": child,
            "referral": referral, "child_referral": child_referral, "twin": twin}


def held_ids(person_id: str) -> dict[str, set[str]]:
    held = rights.held(db.session, db.session.get(Person, person_id))
    return {"persons": {held.person.id}, "consents": {c.id for c in held.consents},
            "migration_plans": {p.id for p in held.plans},
            "referrals": {r.id for r in held.referrals},
            "referral_events": {e.id for r in held.referrals for e in held.events[r.id]}}


def on_phone(phone, person_id: str, ids: dict[str, set[str]]) -> set:
    return {key for key in phone.records if key[1] in set().union(*ids.values())}


# Access -----------------------------------------------------------------------------------

def test_access_gives_everything_held_about_the_person_and_is_audited(client, world):
    accounts = world["accounts"]
    ok(client.get(f"/api/persons/{world['siti']}", headers=accounts["officer"].headers))
    ok(client.patch(f"/api/persons/{world['siti']}", headers=accounts["community"].headers,
                    json={"migration_status": "pmi_aktif"}))
    data = ok(client.get(f"/api/persons/{world['siti']}/data", headers=accounts["ltsa"].headers))
    ids = held_ids(world["siti"])
    assert data["person"]["id"] == world["siti"] and data["person"]["nik"] == NIK
    assert {c["id"] for c in data["consents"]} == ids["consents"]
    assert {p["id"] for p in data["migration_plans"]} == ids["migration_plans"]
    assert {p["agency_name"] for p in data["migration_plans"]} == {SECRETS["agency"],
                                                                  SECRETS["deleted_agency"]}
    assert {r["id"] for r in data["referrals"]} == ids["referrals"]
    events = {e["id"] for r in data["referrals"] for e in r["events"]}
    assert events == ids["referral_events"] and len(events) == 4
    notes = {e["note"] for r in data["referrals"] for e in r["events"]}
    assert {SECRETS["note"], SECRETS["village_note"]} <= notes
    assert [c["losing_value"] for c in data["conflicts"]] == [SECRETS["lost"]]
    assert [(p["match"], p["status"]) for p in data["possible_duplicates"]] == [("nik", "open")]
    trail = {(a["action"], a["entity"], a["user"]["role"], tuple(a["fields"] or ()))
             for a in data["audit"]}
    assert ("read", "person", "officer", ()) in trail
    assert ("update", "person", "community", ("migration_status",)) in trail
    assert ("create", "referral", "community", ()) in {t[:3] + ((),) for t in trail}
    # Nothing of another person: the twin is named by id in the pair, never by its data.
    text = json.dumps(data)
    assert "Siti Aminah Kembar" not in text and "Blok Lain" not in text
    assert world["child"] not in text
    assert data["retention_months"] == 60
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "access_export")).scalar_one()
    assert (entry.entity_id, entry.user_id) == (world["siti"], accounts["ltsa"].user_id)


@pytest.mark.parametrize(("role", "status"), [
    ("officer", 403), ("community", 403), ("partner", 403), ("ltsa", 200), ("admin", 200)])
def test_access_is_for_the_desk_and_admins(client, world, role, status):
    response = client.get(f"/api/persons/{world['siti']}/data",
                          headers=world["accounts"][role].headers)
    assert response.status_code == status
    exports = db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "access_export")).scalar_one()
    assert exports == (1 if status == 200 else 0)


# Correction -------------------------------------------------------------------------------

def test_the_desk_corrects_a_person_audited_by_field_name(client, world):
    ltsa = world["accounts"]["ltsa"]
    body = ok(client.patch(f"/api/persons/{world['siti']}", headers=ltsa.headers,
                           json={"phone": "0813-1111-2222", "name": "Siti Aminah Benar"}))
    assert (body["phone"], body["name"]) == ("+6281311112222", "Siti Aminah Benar")
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "update", AuditEntry.entity_id == world["siti"])).scalar_one()
    assert entry.detail == {"fields": ["name", "phone"]}
    assert "1111" not in json.dumps(entry.detail)
    # A move to another desa stays the village's and the admin's.
    moved = client.patch(f"/api/persons/{world['siti']}", headers=ltsa.headers,
                         json={"desa_code": DESA_B})
    assert moved.status_code == 403
    # The correction reaches the village's phone.
    phone = world["phones"]["officer"]
    phone.sync_all()
    assert phone.record("persons", world["siti"])["name"] == "Siti Aminah Benar"


def test_a_partner_does_not_correct(client, world):
    response = client.patch(f"/api/persons/{world['siti']}", json={"name": "X"},
                            headers=world["accounts"]["partner"].headers)
    assert response.status_code == 403


# Withdrawal -------------------------------------------------------------------------------

def test_withdrawal_stops_processing_and_leaves_every_phone(client, world, make_account):
    accounts, phones, siti = world["accounts"], world["phones"], world["siti"]
    ids = held_ids(siti)
    for role in ("officer", "community", "partner", "ltsa", "admin"):
        assert on_phone(phones[role], siti, ids), role
    # The officer's phone edits Siti offline meanwhile.
    phones["officer"].edit("persons", siti, {"address": "Blok Baru"})
    answer = ok(client.post(f"/api/persons/{siti}/withdraw", headers=accounts["ltsa"].headers))
    assert answer["processing_stopped_at"] and len(answer["consents_withdrawn"]) == 1
    consents = db.session.execute(sa.select(Consent).where(Consent.person_id == siti)).scalars()
    assert all(c.withdrawn_at is not None for c in consents)
    sync = phones["officer"].sync_all()
    assert [r["reason"] for r in sync["refused"]] == ["not_found"]
    for role in ("officer", "community", "partner", "ltsa", "admin"):
        phone = phones[role]
        phone.sync_all()
        assert not on_phone(phone, siti, ids), role
        reasons = {r["reason"] for r in phone.removed}
        assert reasons == {"consent_withdrawn"}, role
        assert {(r["entity"], r["id"]) for r in phone.removed} >= {("persons", siti)}
    # The records a phone held all left: the officer held the village's share of them.
    assert {r["id"] for r in phones["ltsa"].removed} >= set().union(*ids.values())
    # A new phone of the desa downloads none of it.
    fresh = Phone(client, make_account("officer"))
    fresh.sync_all()
    assert not on_phone(fresh, siti, ids)
    # On the server: the desk and admins still read; the others do not.
    for role, status in (("officer", 404), ("community", 404), ("partner", 404),
                         ("ltsa", 200), ("admin", 200)):
        response = client.get(f"/api/persons/{siti}", headers=accounts[role].headers)
        assert response.status_code == status, role
    # No merge may carry the records on.
    assert db.session.execute(sa.select(PossibleDuplicate.status)).scalar_one() == "closed"
    audit = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "withdraw")).scalar_one()
    assert audit.entity_id == siti and set(audit.detail) == {"consents"}


def test_after_withdrawal_nothing_more_is_processed(client, world):
    accounts, siti = world["accounts"], world["siti"]
    ok(client.post(f"/api/persons/{siti}/withdraw", headers=accounts["community"].headers))
    admin = accounts["admin"].headers
    refusals = {
        "edit": client.patch(f"/api/persons/{siti}", headers=admin, json={"address": "X"}),
        "consent": client.post(f"/api/persons/{siti}/consents", headers=admin, json=CONSENT),
        "plan": client.put(f"/api/persons/{siti}/migration-plans", headers=admin,
                           json={"destination_country": "HK"}),
        "referral": client.post("/api/referrals", headers=admin, json={
            "person_id": siti, "services": ["pengaduan_kasus"]}),
        "event": client.post(f"/api/referrals/{world['referral']}/events",
                             headers=accounts["ltsa"].headers,
                             json={"kind": "note", "note": "lanjut"}),
    }
    for what, response in refusals.items():
        assert response.status_code == 409, what
        assert response.get_json()["error"]["code"] == "processing_stopped", what
    # A phone of a role that still reads it is refused by the same rule.
    phone = world["phones"]["admin"]
    phone.edit("persons", siti, {"address": "Blok Baru"})
    phone.new("referrals", {"person_id": siti, "services": ["pengaduan_kasus"]})
    answer = phone.sync_all()
    assert [r["reason"] for r in answer["refused"]] == ["processing_stopped"] * 2
    # The village no longer sees the person at all.
    officer = client.patch(f"/api/persons/{siti}", headers=accounts["officer"].headers,
                           json={"address": "X"})
    assert officer.status_code == 404
    assert db.session.get(Person, siti).address == SECRETS["address"]


def test_withdrawing_twice_changes_nothing(client, world):
    ltsa = world["accounts"]["ltsa"].headers
    first = ok(client.post(f"/api/persons/{world['siti']}/withdraw", headers=ltsa))
    second = ok(client.post(f"/api/persons/{world['siti']}/withdraw", headers=ltsa))
    assert second["processing_stopped_at"] == first["processing_stopped_at"]
    assert second["consents_withdrawn"] == []


# Erasure ----------------------------------------------------------------------------------

def report(client, account) -> list:
    body = ok(client.get("/api/reports?by=desa", headers=account.headers))
    return body["tables"]


def _readable(table: str, row) -> str:
    # Encrypted columns are read as the server can read them: decrypted, so that erasure
    # is checked on the values themselves, not only on their ciphertext.
    values = []
    for column, value in row._mapping.items():
        if isinstance(value, str) and crypto.key_id_of(value):
            value = crypto.keyring().decrypt(value, f"{table}.{column}").decode()
        values.append(value)
    return repr(tuple(values))


def raw_rows(ids: dict[str, set[str]]) -> str:
    """Every column of every row about the person, read with raw SQL (decrypted), as one
    text."""
    out = []
    for table in ENTITIES:
        chosen = sorted(ids[table])
        rows = db.session.execute(
            sa.text(f"SELECT * FROM {table} WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)), {"ids": chosen}).all()
        assert len(rows) == len(chosen), table
        out += [_readable(table, row) for row in rows]
    out += [_readable("conflicts", row) for row in db.session.execute(
        sa.text("SELECT * FROM conflicts WHERE record_id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)), {"ids": sorted(set().union(*ids.values()))})]
    return "\n".join(out)


@pytest.mark.parametrize("first_withdrawn", [False, True])
def test_erasure_leaves_no_personal_value_and_the_same_figures(client, world, first_withdrawn):
    accounts, phones = world["accounts"], world["phones"]
    ltsa = accounts["ltsa"].headers
    before = report(client, accounts["ltsa"])
    ids = {key: held_ids(world["siti"])[key] | held_ids(world["child"])[key]
           for key in ENTITIES}
    assert all(value in raw_rows(ids) for value in SECRETS.values())
    if first_withdrawn:
        ok(client.post(f"/api/persons/{world['child']}/withdraw", headers=ltsa))
    for person_id in (world["siti"], world["child"]):
        answer = ok(client.post(f"/api/persons/{person_id}/erase", headers=ltsa))
        assert answer["erased_at"]
    text = raw_rows(ids)
    for name, value in SECRETS.items():
        assert value not in text, name
    assert db.session.execute(sa.select(sa.func.count()).select_from(ConflictEntry).where(
        ConflictEntry.record_id.in_(set().union(*ids.values())))).scalar_one() == 0
    pair = db.session.execute(sa.select(PossibleDuplicate)).scalar_one()
    assert pair.status == "closed"
    siti = db.session.get(Person, world["siti"])
    assert (siti.name, siti.nik, siti.phone, siti.birth_date) == (rights.ERASED_NAME, None,
                                                                  None, None)
    assert (siti.sex, siti.desa_code, siti.migration_status) == ("P", DESA_A, "cpmi")
    # The keyed hash of the NIK goes with it: no lookup can find the person by NIK again.
    assert siti.nik_hash is None
    assert db.session.get(Person, world["child"]).registration_age == 10
    assert report(client, accounts["ltsa"]) == before
    # Every phone drops both at its next sync.
    for role, phone in phones.items():
        phone.sync_all()
        assert not on_phone(phone, world["siti"], ids), role
        assert ("persons", world["siti"], "erased") in {
            (r["entity"], r["id"], r["reason"]) for r in phone.removed}, role
    child_reason = {r["reason"] for r in phones["officer"].removed if r["id"] == world["child"]}
    assert child_reason == {"consent_withdrawn" if first_withdrawn else "erased"}
    # The audit entry holds ids only.
    entry = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "erase", AuditEntry.entity_id == world["siti"])).scalar_one()
    assert set(entry.detail) == {"ids"} and world["siti"] in entry.detail["ids"]
    assert all(value not in json.dumps(entry.detail) for value in SECRETS.values())
    # Still readable by the desk, as what is left.
    data = ok(client.get(f"/api/persons/{world['siti']}/data", headers=ltsa))
    assert data["person"]["name"] == rights.ERASED_NAME and data["conflicts"] == []


# Retention --------------------------------------------------------------------------------

def purge(runner, monkeypatch, months_later: int, *args) -> str:
    """`flask purge` with the clock moved on by about `months_later` months (30 days each
    below the period, 31 past it: the period is in calendar months)."""
    moved = utcnow() + dt.timedelta(days=(30 if months_later < 60 else 31) * months_later)
    monkeypatch.setattr(cli_rights, "utcnow", lambda: moved)
    result = runner.invoke(args=["purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_purge_erases_closed_records_after_the_retention_period(client, world, runner,
                                                                monkeypatch, make_account):
    officer = world["accounts"]["officer"]
    archived = ok(client.post("/api/persons", headers=officer.headers, json=PERSON | {
        "name": "Arsip Rahasia", "nik": None, "lawful_basis": "tugas_publik"}), 201)["id"]
    ok(client.post(f"/api/persons/{archived}/archive", headers=officer.headers))
    # Siti's referral is open (with SBMI); the child's is closed; the twin has none.
    assert "0 persons" in purge(runner, monkeypatch, 59)
    output = purge(runner, monkeypatch, 61, "--dry-run")
    assert "3 persons would be erased" in output
    assert db.session.execute(sa.select(sa.func.count()).select_from(Person).where(
        Person.erased_at.is_not(None))).scalar_one() == 0
    output = purge(runner, monkeypatch, 61)
    assert "3 persons erased" in output
    db.session.expire_all()
    erased = set(db.session.execute(sa.select(Person.id).where(
        Person.erased_at.is_not(None))).scalars())
    assert erased == {archived, world["child"], world["twin"]}
    assert db.session.get(Referral, world["child_referral"]).outcome == ""
    entries = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "erase")
                                 ).scalars().all()
    assert {e.entity_id for e in entries} == erased
    assert all(e.user_id is None and e.detail["by"] == "retention" for e in entries)
    assert "0 persons" in purge(runner, monkeypatch, 61)


def test_a_withdrawn_person_is_erased_once_the_period_ran_out(client, world, runner,
                                                              monkeypatch):
    ok(client.post(f"/api/persons/{world['siti']}/withdraw",
                   headers=world["accounts"]["ltsa"].headers))
    purge(runner, monkeypatch, 61)
    db.session.expire_all()
    assert db.session.get(Person, world["siti"]).erased_at is not None


def test_the_months_before_a_moment(monkeypatch):
    moment = dt.datetime(2026, 3, 31, 5, 0, tzinfo=dt.UTC)
    assert rights.months_before(moment, 1) == dt.datetime(2026, 2, 28, 5, 0, tzinfo=dt.UTC)
    assert rights.months_before(moment, 60) == dt.datetime(2021, 3, 31, 5, 0, tzinfo=dt.UTC)
    assert rights.months_before(moment, 15) == dt.datetime(2024, 12, 31, 5, 0, tzinfo=dt.UTC)


def test_the_privacy_settings_state_the_retention_period(client, world):
    body = ok(client.get("/api/privacy", headers=world["accounts"]["officer"].headers))
    assert body == {"retention_months": 60}


# Cross-scope attempts ---------------------------------------------------------------------

# (endpoint, role) -> status for a person outside the user's scope (another desa's, not
# referred to the user's organisation). 404: does not exist for them; 403: not their role.
OUTSIDE = {
    "data": {"officer": 403, "community": 403, "partner": 403},
    "withdraw": {"officer": 404, "community": 404, "partner": 403},
    "erase": {"officer": 403, "community": 403, "partner": 403},
}


@pytest.mark.parametrize("action", sorted(OUTSIDE))
@pytest.mark.parametrize("role", ["officer", "community", "partner"])
def test_no_right_reaches_outside_the_scope(client, world, make_account, action, role):
    outsider = make_account(role, desa_code=DESA_B,
                            organisation_code="wcc_mawar_balqis" if role == "partner" else None)
    method = client.get if action == "data" else client.post
    response = method(f"/api/persons/{world['siti']}/{action}", headers=outsider.headers)
    assert response.status_code == OUTSIDE[action][role]
    person = db.session.get(Person, world["siti"])
    assert person.processing_stopped_at is None and person.erased_at is None
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(("access_export", "withdraw", "erase")))).scalar_one() == 0


@pytest.mark.parametrize("role", ["officer", "community", "partner"])
def test_the_village_and_partners_do_not_erase_what_they_hold(client, world, role):
    response = client.post(f"/api/persons/{world['siti']}/erase",
                           headers=world["accounts"][role].headers)
    assert response.status_code == 403
    assert db.session.get(Person, world["siti"]).erased_at is None


def test_a_person_unknown_is_not_found(client, world):
    for action in ("data", "withdraw", "erase"):
        method = client.get if action == "data" else client.post
        response = method(f"/api/persons/00000000-0000-4000-8000-000000000000/{action}",
                          headers=world["accounts"]["admin"].headers)
        assert response.status_code == 404, action


@pytest.mark.parametrize("action", ["data", "withdraw", "erase"])
def test_the_desk_reaches_only_the_persons_it_reads(client, world, action):
    # The twin is in no referral: the LTSA does not read them; an admin does.
    method = client.get if action == "data" else client.post
    url = f"/api/persons/{world['twin']}/{action}"
    assert method(url, headers=world["accounts"]["ltsa"].headers).status_code == 404
    assert db.session.get(Person, world["twin"]).processing_stopped_at is None
    assert method(url, headers=world["accounts"]["admin"].headers).status_code == 200
