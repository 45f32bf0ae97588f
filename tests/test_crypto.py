"""Personal fields encrypted at rest: what the tables hold, what the app reads, the NIK's
keyed hash, refusals of altered values, key rotation and the migration of older rows."""

import base64
import datetime as dt
import os
import stat
import uuid

import pytest
import sqlalchemy as sa

from server import create_app
from server import crypto
from server.extensions import db
from server.models import ConflictEntry
from server.models import OutreachVisit
from server.models import Person
from server.models import PossibleDuplicate
from server.models import Referral
from server.models import ReferralEvent
from tests.conftest import DESA_A
from tests.conftest import POSTGRES_URL
from tests.conftest import _postgres_available
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

NIK = "3209014101900001"
PHONE = "+6281234567890"
REASON = "Dijanjikan kerja di Malaysia tanpa kontrak oleh sponsor kampung."
OUTCOME = "Paspor dikembalikan sponsor setelah mediasi BP3MI."
NOTE = "Warga datang bersama kakaknya; paspor ditahan sponsor."
VISIT_NOTES = "Sosialisasi di balai desa; dua warga bertanya tentang P3MI resmi."
PERSON = {"name": "Siti Aminah", "sex": "P", "birth_date": "1990-01-01", "nik": NIK,
          "phone": "0812-3456-7890", "desa_code": DESA_A, "address": "Blok Pahing",
          "migration_status": "calon_potensial", "lawful_basis": "tugas_publik"}
VISIT = {"visit_type": "sosialisasi", "visit_date": "2026-11-02", "desa_code": DESA_A,
         "topics": ["prosedur_resmi"], "participants_female": 10, "notes": VISIT_NOTES}


def raw(table: str, column: str, record_id: str):
    """A value as the table holds it, read below the ORM."""
    return db.session.execute(sa.text(f"SELECT {column} FROM {table} WHERE id = :id"),
                              {"id": record_id}).scalar_one()


def set_raw(table: str, column: str, record_id: str, value) -> None:
    db.session.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                       {"v": value, "id": record_id})
    db.session.commit()
    db.session.expire_all()


def post(client, account, url: str, body: dict) -> dict:
    response = client.post(url, json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def a_referral_with_history(client, make_account) -> tuple[str, str, str]:
    """A person referred, the referral closed with an outcome: (person, referral, event)."""
    officer, desk = make_account("officer"), make_account("ltsa", desa_code=None)
    person_id = post(client, officer, "/api/persons", PERSON)["id"]
    referral_id = post(client, officer, "/api/referrals",
                       {"person_id": person_id, "services": ["bantuan_hukum"],
                        "reason": REASON})["id"]
    post(client, desk, f"/api/referrals/{referral_id}/events",
         {"kind": "note", "note": NOTE, "audience": "village"})
    for status in ("diterima", "dilayani", "selesai"):
        post(client, desk, f"/api/referrals/{referral_id}/events",
             {"kind": "status", "status": status,
              "outcome": OUTCOME if status == "selesai" else ""})
    event_id = db.session.execute(sa.select(ReferralEvent.id).where(
        ReferralEvent.kind == "note")).scalar_one()
    return person_id, referral_id, event_id


def test_personal_fields_are_stored_encrypted_and_read_back(client, make_account):
    person_id, referral_id, event_id = a_referral_with_history(client, make_account)
    phone = Phone(client, make_account("officer"))
    visit_id = phone.new("visits", VISIT)
    phone.sync()
    stored = {
        ("persons", "nik", person_id): NIK,
        ("persons", "phone", person_id): PHONE,
        ("referrals", "reason", referral_id): REASON,
        ("referrals", "outcome", referral_id): OUTCOME,
        ("referral_events", "note", event_id): NOTE,
        ("outreach_visits", "notes", visit_id): VISIT_NOTES,
    }
    for (table, column, record_id), plain in stored.items():
        value = raw(table, column, record_id)
        assert value.startswith(f"e1:{crypto.keyring().current}:"), (table, column)
        assert plain not in value and plain[:8] not in value, (table, column)
    db.session.expire_all()
    person = db.session.get(Person, person_id)
    assert (person.nik, person.phone, person.nik_hash) == (NIK, PHONE, crypto.nik_hash(NIK))
    assert db.session.get(Referral, referral_id).reason == REASON
    assert db.session.get(ReferralEvent, event_id).note == NOTE
    assert db.session.get(OutreachVisit, visit_id).notes == VISIT_NOTES
    # The API and the sync show the plain values.
    desk = make_account("ltsa", desa_code=None)
    body = client.get(f"/api/referrals/{referral_id}", headers=desk.headers).get_json()
    assert body["reason"] == REASON
    phone.sync_all()
    assert phone.record("visits", visit_id)["notes"] == VISIT_NOTES


def test_equal_values_are_encrypted_differently_and_matched_by_their_hash(client,
                                                                          make_account):
    first, second = Phone(client, make_account("officer")), Phone(client, make_account("officer"))
    one = first.new("persons", PERSON | {"phone": PHONE})
    other = second.new("persons", PERSON | {"phone": PHONE, "name": "Siti Aminah binti Karta"})
    first.sync()
    second.sync()
    assert raw("persons", "nik", one) != raw("persons", "nik", other)
    assert raw("persons", "phone", one) != raw("persons", "phone", other)
    assert raw("persons", "nik_hash", one) == raw("persons", "nik_hash", other) != NIK
    # The possible duplicate is found through the hash.
    (pair,) = db.session.execute(sa.select(PossibleDuplicate)).scalars().all()
    assert ({pair.person_id, pair.other_person_id}, pair.match) == ({one, other}, "nik")
    # A NIK corrected on one of them: the hash follows; only name and birth date match now.
    first.edit("persons", one, {"nik": "3209014101900002"})
    first.sync()
    db.session.expire_all()
    assert raw("persons", "nik_hash", one) == crypto.nik_hash("3209014101900002")
    assert db.session.get(PossibleDuplicate, pair.id).match == "name_birth_date"


def test_the_registration_warns_of_a_nik_already_recorded(client, make_account):
    officer = make_account("officer")
    assert post(client, officer, "/api/persons", PERSON)["warnings"] == []
    warnings = post(client, officer, "/api/persons", PERSON | {"name": "Rina"})["warnings"]
    assert [w["field"] for w in warnings] == ["nik"] and "1 warga lain" in warnings[0]["id"]


def test_conflict_values_are_encrypted_in_the_log(client, make_account):
    officer = make_account("officer")
    a, b = Phone(client, officer, node="hp-a"), Phone(client, make_account("officer"),
                                                      node="hp-b")
    person_id = a.new("persons", PERSON)
    a.sync()
    b.sync_all()
    a.edit("persons", person_id, {"nik": "3209014101900002"})
    b.wall_ms = a.wall_ms + 5000
    b.edit("persons", person_id, {"nik": "3209014101900003"})
    a.sync()
    b.sync()
    (entry,) = db.session.execute(sa.select(ConflictEntry)).scalars().all()
    assert (entry.losing_value, entry.winning_value) == ("3209014101900002",
                                                         "3209014101900003")
    for column in ("winning_value", "losing_value"):
        value = raw("conflicts", column, entry.id)
        assert value.startswith("e1:") and "32090141019" not in value
    # Read back through the API: decrypted, then masked like every NIK a role receives.
    listing = client.get("/api/conflicts?open=1", headers=officer.headers).get_json()
    assert listing["items"][0]["losing_value"] == "3209********0002"


@pytest.mark.parametrize("alter", ["a changed letter", "a value of another column",
                                   "an unknown key", "a plain value"])
def test_an_altered_value_is_refused_loudly(client, make_account, alter):
    person_id = post(client, make_account("officer"), "/api/persons", PERSON)["id"]
    stored = raw("persons", "nik", person_id)
    prefix, data = stored.rsplit(":", 1)
    changed = {
        "a changed letter": f"{prefix}:{data[:20]}{'A' if data[20] != 'A' else 'B'}{data[21:]}",
        "a value of another column": raw("persons", "phone", person_id),
        "an unknown key": stored.replace(f"e1:{crypto.keyring().current}:", "e1:gone:", 1),
        "a plain value": NIK,
    }[alter]
    set_raw("persons", "nik", person_id, changed)
    with pytest.raises(crypto.DecryptError) as caught:
        db.session.get(Person, person_id)
    db.session.rollback()
    message = str(caught.value)
    assert message.startswith("persons.nik: ")
    assert NIK not in message and data[:12] not in message
    if alter == "an unknown key":
        assert "'gone'" in message


def test_bad_keys_stop_the_app_at_start(tmp_path):
    good = base64.b64encode(os.urandom(32)).decode()
    for keys, hmac_key, named in (("k1:" + base64.b64encode(b"short").decode(), good,
                                   "DATA_KEYS"),
                                  ("k:1:" + good, good, "DATA_KEYS"),
                                  ("k1:" + good + ",k1:" + good, good, "DATA_KEYS"),
                                  ("k1:" + good, "not base64!", "DATA_HMAC_KEY")):
        with pytest.raises(crypto.KeyConfigError) as caught:
            create_app({"DATA_KEYS": keys, "DATA_HMAC_KEY": hmac_key,
                        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})
        assert str(caught.value).startswith(named) and good not in str(caught.value)


def test_keys_not_in_the_environment_are_made_once_and_kept_private(monkeypatch, tmp_path):
    from server import config

    for name in ("DATA_KEYS", "DATA_HMAC_KEY"):
        monkeypatch.delenv(name, raising=False)
    first, again = config.load(str(tmp_path)), config.load(str(tmp_path))
    assert (first["DATA_KEYS"], first["DATA_HMAC_KEY"]) == (again["DATA_KEYS"],
                                                            again["DATA_HMAC_KEY"])
    for name in ("data_keys", "data_hmac_key"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    ring = crypto.Keyring.parse(first["DATA_KEYS"], first["DATA_HMAC_KEY"])
    assert ring.current == "k1" and ring.decrypt(ring.encrypt(b"x", "t.c"), "t.c") == b"x"
    monkeypatch.setenv("DATA_HMAC_KEY", "from-the-environment")
    assert config.load(str(tmp_path))["DATA_HMAC_KEY"] == "from-the-environment"


def use_keys(app, data_keys: str, hmac_key: str | None = None) -> None:
    """The app's keys changed, as a restart with other environment values would."""
    app.config["DATA_KEYS"] = data_keys
    if hmac_key is not None:
        app.config["DATA_HMAC_KEY"] = hmac_key
    crypto.init_app(app)
    db.session.expire_all()


def test_rotation_moves_every_value_to_the_new_key(app, client, make_account, runner):
    person_id, referral_id, event_id = a_referral_with_history(client, make_account)
    twin = post(client, make_account("officer"), "/api/persons", PERSON | {"name": "Rina"})["id"]
    old = app.config["DATA_KEYS"].split(",")[0]
    new = "k2:" + base64.b64encode(os.urandom(32)).decode()
    new_hmac = base64.b64encode(os.urandom(32)).decode()
    use_keys(app, f"{new},{old}", new_hmac)
    # Written after the change: under the new key already, read back with the old ones.
    phone = Phone(client, make_account("officer"))
    visit_id = phone.new("visits", VISIT)
    phone.sync()
    assert raw("outreach_visits", "notes", visit_id).startswith("e1:k2:")
    assert db.session.get(Person, person_id).nik == NIK
    seq = raw("persons", "change_seq", person_id)

    result = runner.invoke(args=["rotate-keys", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "persons.nik: 2 re-encrypted" in result.output
    assert "referrals.reason: 1 re-encrypted" in result.output
    assert "persons.nik_hash: 2 recomputed" in result.output
    # Run again: nothing left to do.
    again = runner.invoke(args=["rotate-keys"])
    assert "persons.nik: 0 re-encrypted" in again.output
    assert "persons.nik_hash: 0 recomputed" in again.output

    use_keys(app, new)  # the old key removed
    for table, column in crypto.encrypted_columns(db.metadata):
        values = db.session.execute(sa.text(
            f"SELECT {column.name} FROM {table.name} WHERE {column.name} IS NOT NULL")
        ).scalars().all()
        assert all(v.startswith("e1:k2:") for v in values), (table.name, column.name)
    person = db.session.get(Person, person_id)
    assert (person.nik, person.phone) == (NIK, PHONE)
    assert db.session.get(ReferralEvent, event_id).note == NOTE
    assert db.session.get(OutreachVisit, visit_id).notes == VISIT_NOTES
    # A re-encryption is no change for the phones.
    assert raw("persons", "change_seq", person_id) == seq
    # The NIK is still found, under the new hash key.
    assert person.nik_hash == crypto.nik_hash(NIK) == raw("persons", "nik_hash", twin)
    assert db.session.execute(sa.select(sa.func.count()).select_from(Person).where(
        Person.nik_hash == crypto.nik_hash(NIK))).scalar_one() == 2


def test_rotation_stops_on_a_value_it_cannot_read(app, client, make_account, runner):
    person_id = post(client, make_account("officer"), "/api/persons", PERSON)["id"]
    use_keys(app, "k9:" + base64.b64encode(os.urandom(32)).decode())  # the old key lost
    result = runner.invoke(args=["rotate-keys"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "persons.nik: " in result.output and "DATA_KEYS" in result.output
    assert NIK not in result.output and raw("persons", "nik", person_id).startswith("e1:")


# The migration of rows written before encryption -------------------------------------------

PREVIOUS = "febc7860b331"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """A database of its own, still empty: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
        return
    why = _postgres_available()
    if why:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({why})")
    schema = f"jangkau_crypto_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def insert(table_name: str, **values) -> None:
    """A row as the previous revision stored it; required columns not given are filled."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=db.engine)
    row = {}
    for column in table.columns:
        if column.nullable or column.server_default is not None or column.name in values:
            continue
        python = column.type.python_type if not isinstance(column.type, sa.JSON) else dict
        row[column.name] = {str: "x", int: 0, bool: False, dict: {},
                            dt.datetime: dt.datetime(2026, 1, 5),
                            dt.date: dt.date(2026, 1, 5)}[python]
    with db.engine.begin() as conn:
        conn.execute(table.insert().values(**(row | values)))


def test_the_migration_encrypts_rows_written_before_it(empty_database):
    from flask_migrate import downgrade
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "TESTING": True})
    with app.app_context():
        upgrade(revision=PREVIOUS)
        insert("regions", code=DESA_A, name="Waled Desa", level="desa")
        insert("persons", id="p1", name="Siti", nik=NIK, phone=PHONE, desa_code=DESA_A)
        insert("persons", id="p2", name="Rina", nik=None, phone=None, desa_code=DESA_A)
        insert("referrals", id="r1", person_id="p1", desa_code=DESA_A, reason=REASON,
               outcome="")
        insert("referral_events", id="e1", referral_id="r1", kind="note", note=NOTE)
        insert("outreach_visits", id="v1", desa_code=DESA_A, notes=VISIT_NOTES,
               visit_date=dt.date(2026, 11, 2))
        insert("conflicts", id="c1", entity="persons", record_id="p1", reason="x",
               winning_value=NIK, losing_value={"a": [1, 2]})
        insert("conflicts", id="c2", entity="persons", record_id="p1", reason="x",
               winning_value=None, losing_value=3)
        upgrade()

        assert raw("persons", "nik", "p1").startswith("e1:")
        assert raw("persons", "nik", "p2") is None
        assert raw("persons", "nik_hash", "p1") == crypto.nik_hash(NIK)
        assert NOTE not in raw("referral_events", "note", "e1")
        assert raw("referrals", "outcome", "r1").startswith("e1:")  # even an empty one
        assert NIK not in raw("conflicts", "winning_value", "c1")
        assert db.session.get(Person, "p1").phone == PHONE
        assert db.session.get(Referral, "r1").reason == REASON
        assert db.session.get(OutreachVisit, "v1").notes == VISIT_NOTES
        conflicts = {c.id: (c.winning_value, c.losing_value)
                     for c in db.session.execute(sa.select(ConflictEntry)).scalars()}
        assert conflicts == {"c1": (NIK, {"a": [1, 2]}), "c2": (None, 3)}
        db.session.remove()

        downgrade(revision=PREVIOUS)
        assert raw("persons", "nik", "p1") == NIK
        assert raw("referral_events", "note", "e1") == NOTE
        table = sa.Table("conflicts", sa.MetaData(), autoload_with=db.engine)
        with db.engine.connect() as conn:
            values = {row.id: (row.winning_value, row.losing_value)
                      for row in conn.execute(sa.select(table))}
        assert values == {"c1": (NIK, {"a": [1, 2]}), "c2": (None, 3)}
        db.session.remove()
        db.engine.dispose()
