"""The audit log (UU PDP Pasal 31): every read, change and export of personal data with the
record ids, the account and the device; nothing personal in the logs; and the breach report
that reads it (Pasal 46)."""

import datetime as dt
import json
import logging

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import ConflictEntry
from server.models import DeviceToken
from server.models import Person
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone
from tests.test_api_persons import consent
from tests.test_api_persons import person
from tests.test_api_referrals import organisation_id
from tests.test_api_referrals import referral

pytestmark = pytest.mark.usefixtures("fast_passwords")

NIK = "3209014101900001"
PHONE_DIGITS = "81234567890"  # of 0812-3456-7890, stored as +6281234567890
NAME = "Siti Aminah"
PLAN = {"destination_country": "tw", "sector": "pengasuh_lansia", "scheme": "p3mi"}


def last_id() -> int:
    return db.session.execute(sa.select(sa.func.coalesce(sa.func.max(AuditEntry.id), 0))
                              ).scalar_one()


def entries_after(mark: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.id > mark)
                                   .order_by(AuditEntry.id)).scalars())


def device_of(account) -> int:
    return db.session.execute(sa.select(DeviceToken.id).where(
        DeviceToken.user_id == account.user_id)).scalar_one()


# Nothing personal in a log ----------------------------------------------------------------

def _assert_nothing_personal(text: str) -> None:
    assert NIK not in text and PHONE_DIGITS not in text and NAME not in text


def test_engine_hides_statement_parameters(app):
    assert db.engine.hide_parameters is True


def test_a_failed_insert_through_the_api_logs_no_personal_value(app, caplog):
    @app.post("/api/_failing-insert")
    def failing_insert():
        # sex is NOT NULL: PostgreSQL's message quotes the whole row ("Failing row
        # contains"), SQLAlchemy's would add the parameters.
        db.session.add(Person(name=NAME, nik=NIK, phone="+62" + PHONE_DIGITS, sex=None,
                              desa_code=DESA_A, migration_status="calon_potensial",
                              lawful_basis="tugas_publik"))
        db.session.flush()
        return {}

    with caplog.at_level(logging.DEBUG):
        response = app.test_client().post("/api/_failing-insert")
    assert response.status_code == 500
    error_id = response.get_json()["error"]["error_id"]
    assert error_id in caplog.text and "IntegrityError" in caplog.text
    assert "in failing_insert" in caplog.text  # where: the view's frame is named
    _assert_nothing_personal(caplog.text)
    _assert_nothing_personal(response.get_data(as_text=True))


def test_a_failed_insert_in_a_sync_logs_no_personal_value(client, make_account, monkeypatch,
                                                          caplog):
    from server.api.sync import sync_registry

    spec = sync_registry()[0]["persons"]
    prepare = spec.prepare

    def breaks_the_row(session, user, row, is_new):
        if prepare is not None:
            prepare(session, user, row, is_new)
        row.sex = None  # NOT NULL: the insert fails in the database

    monkeypatch.setattr(spec, "prepare", breaks_the_row)
    phone = Phone(client, make_account("officer"))
    phone.new("persons", {k: v for k, v in person(name=NAME).items() if k != "consent"})
    with caplog.at_level(logging.DEBUG):
        answer = phone.sync()
    [refusal] = answer["refused"]
    assert refusal["reason"] == "server_error"
    assert refusal["error_id"] in caplog.text and "IntegrityError" in caplog.text
    _assert_nothing_personal(caplog.text)


# Reads, changes and exports -------------------------------------------------------------

@pytest.fixture
def world(client, make_account):
    """An officer's person with consent, plan, referral and a visit; the LTSA desk; SBMI."""
    officer = make_account("officer")
    ltsa = make_account("ltsa")
    sbmi = make_account("partner", organisation_code="sbmi")
    body = person(lawful_basis="persetujuan", consent=consent())
    person_id = client.post("/api/persons", json=body, headers=officer.headers).get_json()["id"]
    consent_id = client.get(f"/api/persons/{person_id}/consents",
                            headers=officer.headers).get_json()["items"][0]["id"]
    plan_id = client.put(f"/api/persons/{person_id}/migration-plans", json=PLAN,
                         headers=officer.headers).get_json()["id"]
    referral_id = client.post("/api/referrals", json=referral(person_id),
                              headers=officer.headers).get_json()["id"]
    visit_id = client.post("/api/visits", json=VISIT, headers=officer.headers).get_json()["id"]
    return {"officer": officer, "ltsa": ltsa, "sbmi": sbmi, "person": person_id,
            "consent": consent_id, "plan": plan_id, "referral": referral_id,
            "visit": visit_id}


# (what, method, url, body, (action, entity), where the id is: "entity_id", "ids" or
# "person_id", and which of the world's records it names)
AUDITED = [
    ("person", "GET", "/api/persons/{person}", None, ("read", "person"), "entity_id", "person"),
    ("persons", "GET", "/api/persons", None, ("read", "person"), "ids", "person"),
    ("duplicate check", "POST", "/api/persons/duplicates", {"nik": NIK}, ("read", "person"),
     "ids", "person"),
    ("consents", "GET", "/api/persons/{person}/consents", None, ("read", "consent"),
     "person_id", "person"),
    ("consent", "GET", "/api/consents/{consent}", None, ("read", "consent"), "entity_id",
     "consent"),
    ("plans", "GET", "/api/persons/{person}/migration-plans", None,
     ("read", "migration_plan"), "person_id", "person"),
    ("plan", "GET", "/api/migration-plans/{plan}", None, ("read", "migration_plan"),
     "entity_id", "plan"),
    ("referrals", "GET", "/api/referrals", None, ("read", "referral"), "ids", "referral"),
    ("referral", "GET", "/api/referrals/{referral}", None, ("read", "referral"), "entity_id",
     "referral"),
    ("events", "GET", "/api/referrals/{referral}/events", None, ("read", "referral"),
     "entity_id", "referral"),
    ("visits", "GET", "/api/visits", None, ("read", "visit"), "ids", "visit"),
    ("visit", "GET", "/api/visits/{visit}", None, ("read", "visit"), "entity_id", "visit"),
    ("person change", "PATCH", "/api/persons/{person}", {"address": "Blok Manis"},
     ("update", "person"), "entity_id", "person"),
    ("plan change", "PUT", "/api/persons/{person}/migration-plans", {"sector": "konstruksi"},
     ("update", "migration_plan"), "entity_id", "plan"),
    ("referral note", "POST", "/api/referrals/{referral}/events",
     {"kind": "note", "note": "Dihubungi"}, ("create", "referral_event"), None, None),
    ("report export", "GET", "/api/reports/export?format=csv&table=persons", None,
     ("export", "report"), None, None),
]


def test_every_read_change_and_export_is_audited_with_ids_user_and_device(client, world,
                                                                            subtests):
    officer = world["officer"]
    device = device_of(officer)
    for what, method, url, body, (action, entity), where, names in AUDITED:
        with subtests.test(what):
            mark = last_id()
            response = client.open(url.format(**world), method=method, json=body,
                                   headers=officer.headers)
            assert response.status_code in (200, 201), response.get_data(as_text=True)[:300]
            entries = [e for e in entries_after(mark) if (e.action, e.entity) == (action, entity)]
            assert len(entries) == 1, [(e.action, e.entity) for e in entries_after(mark)]
            entry = entries[0]
            assert (entry.user_id, entry.device_id) == (officer.user_id, device)
            if where == "entity_id":
                assert entry.entity_id == world[names]
            elif where is not None:
                value = entry.detail[where]
                assert world[names] in (value if isinstance(value, list) else [value])


def test_conflict_log_reads_are_audited_with_the_records_behind_them(client, world,
                                                                     make_account):
    officer = world["officer"]
    a = Phone(client, officer, node="hp-a")
    b = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-b")
    a.sync_all()
    b.sync_all()
    a.edit("persons", world["person"], {"address": "versi A"})
    b.wall_ms = a.wall_ms + 5000
    b.edit("persons", world["person"], {"address": "versi B"})
    b.sync()
    a.sync()
    conflict_id = db.session.execute(sa.select(ConflictEntry.id)).scalar_one()
    mark = last_id()
    listing = client.get("/api/conflicts", headers=officer.headers).get_json()
    assert [c["id"] for c in listing["items"]] == [conflict_id]
    [entry] = entries_after(mark)
    assert (entry.action, entry.entity, entry.device_id) == ("read", "conflict",
                                                             device_of(officer))
    assert entry.detail == {"ids": [conflict_id], "records": {"persons": [world["person"]]}}
    # A phone's pull of the conflict log names the conflict too.
    mark = last_id()
    b.sync_all()
    pulled = [e.detail["pulled"] for e in entries_after(mark) if e.action == "sync"]
    assert any(conflict_id in p.get("conflicts", []) for p in pulled)


def test_a_sync_names_the_ids_pushed_and_pulled_and_the_device(client, make_account):
    one, two = make_account("officer"), make_account("officer")
    a, b = Phone(client, one), Phone(client, two)
    person_id = a.new("persons", {k: v for k, v in person().items() if k != "consent"})
    visit_id = a.new("visits", VISIT)
    a.edit("visits", visit_id, {"notes": "lagi"})  # one record twice: named once
    mark = last_id()
    a.sync()
    [push] = entries_after(mark)
    assert (push.action, push.user_id, push.device_id) == ("sync", one.user_id, device_of(one))
    assert push.detail["pushed"] == {"persons": [person_id], "visits": [visit_id]}
    assert (push.detail["sent"], push.detail["applied"], push.detail["refused"]) == (3, 3, 0)
    mark = last_id()
    b.sync_all()
    [pull] = [e for e in entries_after(mark) if e.action == "sync"]
    assert (pull.user_id, pull.device_id) == (two.user_id, device_of(two))
    assert pull.detail["pushed"] == {}
    assert pull.detail["pulled"]["persons"] == [person_id]
    assert pull.detail["pulled"]["visits"] == [visit_id]
    # A round trip that moves nothing writes nothing.
    mark = last_id()
    b.sync()
    assert entries_after(mark) == []


# The breach report --------------------------------------------------------------------------

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _at(mark: int, moment: dt.datetime) -> None:
    """Date the entries written since mark (the scenario plays over days)."""
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.id > mark).values(at=moment))
    db.session.commit()


def breach(runner, *args) -> dict:
    result = runner.invoke(args=["breach-report", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_breach_report_lists_exactly_the_persons_an_account_or_device_reached(
        client, make_account, runner):
    officer = make_account("officer")
    other = make_account("officer", desa_code=DESA_B)
    ltsa = make_account("ltsa")
    sbmi = make_account("partner", organisation_code="sbmi")
    mark = last_id()
    ids = {}
    for key, account, name in (("p1", officer, "Satu"), ("p2", officer, "Dua"),
                               ("p3", officer, "Tiga"), ("p4", other, "Empat")):
        body = person(name=name, nik=None, desa_code=DESA_A if account is officer else DESA_B)
        ids[key] = client.post("/api/persons", json=body, headers=account.headers
                               ).get_json()["id"]
    ids["r2"] = client.post("/api/referrals", json=referral(ids["p2"]),
                            headers=officer.headers).get_json()["id"]
    ids["r3"] = client.post("/api/referrals", json=referral(ids["p3"]),
                            headers=officer.headers).get_json()["id"]
    for referral_id in (ids["r2"], ids["r3"]):
        client.post(f"/api/referrals/{referral_id}/events", json={
            "kind": "status", "status": "dirujuk_lanjut",
            "organisation_id": organisation_id("sbmi")}, headers=ltsa.headers)
    _at(mark, T0 - dt.timedelta(days=30))  # set-up, long before the windows

    # Day 1: the officer reads p1; the partner reads p2's referral and its history.
    mark = last_id()
    client.get(f"/api/persons/{ids['p1']}", headers=officer.headers)
    _at(mark, T0 + dt.timedelta(hours=1))
    mark = last_id()
    client.get(f"/api/referrals/{ids['r2']}/events", headers=sbmi.headers)
    _at(mark, T0 + dt.timedelta(hours=2))
    # Day 2: the partner's phone pulls (both forwarded referrals, their persons, events).
    mark = last_id()
    Phone(client, sbmi).sync_all()
    _at(mark, T0 + dt.timedelta(days=1, hours=1))

    day1 = ["--since", T0.isoformat(), "--until", (T0 + dt.timedelta(days=1)).isoformat()]
    day2 = ["--since", (T0 + dt.timedelta(days=1)).isoformat(),
            "--until", "2026-05-03T07:00+07:00"]

    def persons(report) -> set[str]:
        return {p["person_id"] for p in report["persons"]}

    report = breach(runner, *day1, "--user", officer.username)
    assert persons(report) == {ids["p1"]}
    [row] = report["persons"]
    assert (row["desa_code"], row["entities"], row["how"]) == (DESA_A, ["person"], ["read"])
    assert breach(runner, *day1, "--user", sbmi.username)["persons"][0]["entities"] == [
        "referral"]
    assert persons(breach(runner, *day1, "--user", sbmi.username)) == {ids["p2"]}
    assert persons(breach(runner, *day2, "--user", officer.username)) == set()
    pulled = breach(runner, *day2, "--device", str(device_of(sbmi)))
    assert persons(pulled) == {ids["p2"], ids["p3"]}
    assert all("pulled" in p["how"] for p in pulled["persons"])
    assert {"person", "referral", "referral_event"} <= set(pulled["persons"][0]["entities"])
    assert pulled["summary"]["persons"] == 2 and pulled["summary"]["desa"] == 1
    # The officer's own phone has read nothing; the other desa's person reached no one.
    assert persons(breach(runner, *day1, *day2[2:], "--device", str(device_of(officer)))
                   ) == {ids["p1"]}
    assert ids["p4"] not in persons(breach(runner, "--since", T0.isoformat(),
                                           "--until", "2026-06-01"))
    # The set-up month: the other officer registered p4 (a change counts: they held it).
    assert persons(breach(runner, "--since", "2026-03-01", "--until", "2026-04-30",
                          "--user", other.username)) == {ids["p4"]}


def test_breach_report_csv_and_bad_options(client, make_account, runner):
    officer = make_account("officer")
    person_id = client.post("/api/persons", json=person(nik=None), headers=officer.headers
                            ).get_json()["id"]
    result = runner.invoke(args=["breach-report", "--since", "2000-01-01", "--user",
                                 officer.username])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "person_id,desa_code,desa_name,entities,how,first_at,last_at"
    assert [line.split(",")[:2] for line in lines[1:]] == [[person_id, DESA_A]]
    assert "1 persons in 1 desa" in result.stderr
    assert NAME not in result.output and NIK not in result.output
    for args, option in ((["--since", "kemarin"], "--since"),
                         (["--since", "2026-05-02", "--until", "2026-05-01"], "--until"),
                         (["--since", "2026-05-01", "--user", "tidak.ada"], "--user"),
                         (["--since", "2026-05-01", "--device", "999999"], "--device"),
                         (["--until", "2026-05-01"], "--since")):
        result = runner.invoke(args=["breach-report", *args])
        assert result.exit_code == 2 and option in result.output, (args, result.output)
