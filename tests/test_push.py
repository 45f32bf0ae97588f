"""Web push end to end: who is told of what, what the message holds, and how the worker
sends it (a local receiver decrypts the real pywebpush message and checks its VAPID
signature), on SQLite and PostgreSQL."""

import datetime as dt
import os
import stat
import threading

import pytest
import sqlalchemy as sa

from server import config
from server import notify
from server import push_worker
from server.extensions import db
from server.models import Notification
from server.models import Organisation
from server.models import PushOutboxEntry
from server.models import PushSubscription
from server.models import Referral
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.push_receiver import Receiver
from tests.sync_helpers import Phone
from tests.test_api_referrals import event
from tests.test_api_referrals import organisation_id

pytestmark = pytest.mark.usefixtures("fast_passwords")

SUBJECT = "mailto:uji@jangkau.test"
# The person's data that no notification may carry.
NAME, NIK, PHONE, ADDRESS = "Nurhayati Binti Warsa", "3209014101900001", "081234567890", \
    "Blok Kliwon Gang Mawar"
REASON = "Gaji lima bulan ditahan majikan"
PERSONAL = (NAME, "Nurhayati", NIK, PHONE, "0812-3456-7890", ADDRESS, REASON)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def vapid(app):
    private, public = notify.new_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public,
                      VAPID_SUBJECT=SUBJECT)
    return public


def subscribe(client, account, browser):
    response = client.post("/api/push/subscription", json=browser.subscription(),
                           headers=account.headers)
    assert response.status_code == 204, response.get_json()


def new_person(client, account, **changes) -> str:
    body = {"name": NAME, "nik": NIK, "sex": "P", "birth_date": "1990-01-01", "phone": PHONE,
            "desa_code": DESA_A, "address": ADDRESS, "migration_status": "purna_pmi",
            "lawful_basis": "tugas_publik"} | changes
    response = client.post("/api/persons", json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def send_referral(client, account, person_id, **changes) -> str:
    body = {"person_id": person_id, "services": ["pengaduan_kasus"], "reason": REASON,
            "urgency": "segera"} | changes
    response = client.post("/api/referrals", json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def told() -> list[tuple[int, str]]:
    """(user id, kind) of every notification, in order."""
    return [tuple(r) for r in db.session.execute(
        sa.select(Notification.user_id, Notification.kind).order_by(Notification.id))]


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def people(client, make_account, receiver, vapid):
    """Every role, each with a subscribed browser: the referring officer, an officer of
    another desa, two desk officers, SBMI and WCC staff, and a community member."""
    accounts = {
        "officer": make_account("officer"),
        "officer_b": make_account("officer", desa_code=DESA_B),
        "ltsa1": make_account("ltsa"),
        "ltsa2": make_account("ltsa"),
        "sbmi": make_account("partner", organisation_code="sbmi"),
        "wcc": make_account("partner", organisation_code="wcc_mawar_balqis"),
        "community": make_account("community"),
    }
    browsers = {}
    for name, account in accounts.items():
        browsers[name] = receiver.browser(name)
        subscribe(client, account, browsers[name])
    return accounts, browsers


def test_each_change_tells_its_recipients_and_only_them(client, people, receiver, vapid):
    accounts, browsers = people
    officer, ltsa1, wcc = accounts["officer"], accounts["ltsa1"], accounts["wcc"]
    uid = {name: account.user_id for name, account in accounts.items()}
    person_id = new_person(client, officer)
    referral_id = send_referral(client, officer, person_id)
    wcc_id = organisation_id("wcc_mawar_balqis")
    steps = [
        # (what happens, who is told of what)
        ("sent", None, [("ltsa1", "new_referral"), ("ltsa2", "new_referral")]),
        ("a desk note", (ltsa1, {"kind": "note", "note": "Sudah ditelepon"}), []),
        ("received", (ltsa1, {"kind": "status", "status": "diterima"}),
         [("officer", "status_changed")]),
        ("forwarded to WCC", (ltsa1, {"kind": "status", "status": "dirujuk_lanjut",
                                      "organisation_id": wcc_id}),
         [("wcc", "forwarded"), ("officer", "status_changed")]),
        ("closed by WCC", (wcc, {"kind": "status", "status": "selesai"}),
         [("officer", "status_changed")]),
    ]
    seen = 0
    for what, action, expected in steps:
        if action is not None:
            account, body = action
            response = event(client, account, referral_id, **body)
            assert response.status_code == 201, (what, response.get_json())
        rows = told()[seen:]
        assert rows == [(uid[name], kind) for name, kind in expected], what
        seen += len(rows)
    # One push message per notification, each to its recipient's subscription.
    outbox = db.session.execute(
        sa.select(PushSubscription.user_id, Notification.user_id)
        .join(PushOutboxEntry, PushOutboxEntry.subscription_id == PushSubscription.id)
        .join(Notification, Notification.id == PushOutboxEntry.notification_id)).all()
    assert sorted(a for a, _ in outbox) == sorted(b for _, b in outbox) == sorted(
        u for u, _ in told())

    result = push_worker.send_round()
    assert (result.sent, result.retried, result.failed) == (len(told()), 0, 0)
    assert receiver.errors == []
    public = vapid
    by_browser = {name: receiver.delivered(browser) for name, browser in browsers.items()}
    assert {name: [p["kind"] for p in got] for name, got in by_browser.items()} == {
        "officer": ["status_changed"] * 3, "officer_b": [], "ltsa1": ["new_referral"],
        "ltsa2": ["new_referral"], "sbmi": [], "wcc": ["forwarded"], "community": []}
    for delivery in receiver.deliveries:
        assert delivery.vapid_key == public and delivery.claims["sub"] == SUBJECT
        text = str(delivery.payload)
        for secret in PERSONAL:
            assert secret not in text, (secret, delivery.payload)
        payload = delivery.payload
        assert payload["referral_id"] == referral_id
        assert payload["url"] == f"/#/rujukan/{referral_id}"
        assert payload["desa"] == "Waled Desa" and payload["count"] == 1
        assert payload["title"] and payload["body"] and payload["en"]["title"]
    wcc_name = db.session.get(Organisation, wcc_id).name
    assert by_browser["wcc"][0]["body"] == f"1 rujukan dari Waled Desa diteruskan ke {wcc_name}."
    # The worker sent each once: a second round finds nothing to do.
    assert push_worker.send_round().claimed == 0


@pytest.mark.parametrize("urgency, birth_date, title_id, title_en", [
    ("segera", "1990-01-01", "Rujukan baru", "New referral"),
    ("darurat", "1990-01-01", "Rujukan baru · DARURAT", "New referral · URGENT"),
    ("segera", "2014-05-10", "Rujukan baru · anak", "New referral · child"),
    ("darurat", "2014-05-10", "Rujukan baru · DARURAT, anak", "New referral · URGENT, child"),
])
def test_urgent_and_child_referrals_are_marked(client, make_account, urgency, birth_date,
                                               title_id, title_en):
    officer, desk = make_account("officer"), make_account("ltsa")
    person_id = new_person(client, officer, nik=None, birth_date=birth_date)
    send_referral(client, officer, person_id, urgency=urgency)
    (row,) = db.session.execute(sa.select(Notification)).scalars()
    assert row.user_id == desk.user_id
    assert (row.payload["title"], row.payload["en"]["title"]) == (title_id, title_en)
    assert row.payload["urgent"] is (urgency == "darurat")
    assert row.payload["child"] is (birth_date > "2010")


def test_a_referral_pushed_by_a_phone_tells_the_desk_in_its_transaction(client, make_account):
    officer, desk = make_account("officer"), make_account("ltsa")
    phone = Phone(client, officer)
    person_id = phone.new("persons", {
        "name": NAME, "sex": "P", "birth_date": "1990-01-01", "desa_code": DESA_A,
        "migration_status": "purna_pmi", "lawful_basis": "tugas_publik"})
    referral_id = phone.new("referrals", {"person_id": person_id, "services": ["pengaduan_kasus"],
                                          "reason": REASON, "urgency": "darurat"})
    phone.sync()
    assert told() == [(desk.user_id, "new_referral")]
    # Sent again (the answer was lost): nobody is told twice.
    phone.outbox = [dict(m) for m in phone.outbox]
    phone.sync()
    assert told() == [(desk.user_id, "new_referral")]
    (row,) = db.session.execute(sa.select(Notification)).scalars()
    assert row.referral_id == referral_id and row.payload["urgent"] is True


def test_the_key_for_subscribing(client, app, make_account):
    app.config.update(VAPID_PRIVATE_KEY="", VAPID_PUBLIC_KEY="")
    missing = client.get("/api/push/key")
    assert missing.status_code == 503
    error = missing.get_json()["error"]
    assert error["code"] == "unavailable"
    assert "belum disiapkan" in error["message"]["id"] and "not set up" in error["message"]["en"]
    officer = make_account("officer")
    browser_sub = {"endpoint": "https://push.example/abc", "keys": {"p256dh": "x", "auth": "y"}}
    refused = client.post("/api/push/subscription", json=browser_sub, headers=officer.headers)
    assert refused.get_json()["error"]["code"] == "unavailable"

    private, public = notify.new_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public)
    assert client.get("/api/push/key").get_json() == {"public_key": public}
    assert config.vapid_public_key(private) == public


def _keys(**keys):
    return lambda body: body | {"keys": body["keys"] | keys}


@pytest.mark.parametrize("change, field", [
    (lambda b: b | {"endpoint": "http://push.example/abc"}, "endpoint"),
    (lambda b: b | {"endpoint": "ftp://push.example/abc"}, "endpoint"),
    (lambda b: b | {"endpoint": "https://push.example/" + "a" * 1100}, "endpoint"),
    (lambda b: b | {"endpoint": None}, "endpoint"),
    (lambda b: {"keys": b["keys"]}, "endpoint"),
    (lambda b: b | {"endpoint": "http://10.0.0.1:8000/push"}, "endpoint"),
    (_keys(p256dh=None), "keys.p256dh"),
    (_keys(p256dh="BAAA"), "keys.p256dh"),
    (_keys(p256dh="A" * 87), "keys.p256dh"),  # 65 bytes, not an uncompressed point
    (_keys(auth="AAAA"), "keys.auth"),
    (_keys(auth="not base64!"), "keys.auth"),
    (lambda b: b | {"keys": "none"}, "keys.auth"),
])
def test_a_bad_subscription_is_refused_naming_the_field(client, make_account, receiver, vapid,
                                                         change, field):
    officer = make_account("officer")
    body = change(receiver.browser("valid").subscription())
    response = client.post("/api/push/subscription", json=body, headers=officer.headers)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    message = error["fields"][field][0]
    assert message["id"] and message["en"]
    assert count(PushSubscription) == 0


def test_one_subscription_per_device(client, make_account, receiver, vapid):
    officer = make_account("officer")
    first, second = receiver.browser("first"), receiver.browser("second")
    subscribe(client, officer, first)
    subscribe(client, officer, first)
    subscribe(client, officer, second)
    rows = db.session.execute(sa.select(PushSubscription.endpoint)).scalars().all()
    assert rows == [second.endpoint]
    # The same browser logged in again as another user: the subscription moves with it.
    other = make_account("officer")
    subscribe(client, other, second)
    rows = db.session.execute(sa.select(PushSubscription.user_id)).scalars().all()
    assert rows == [other.user_id]
    assert client.delete("/api/push/subscription", headers=other.headers).status_code == 204
    assert client.delete("/api/push/subscription", headers=other.headers).status_code == 204
    assert count(PushSubscription) == 0


def _logout(client, runner, account, admin):
    assert client.post("/api/auth/logout", headers=account.headers).status_code == 204


def _admin_revoke(client, runner, account, admin):
    response = client.post(f"/api/admin/users/{account.user_id}/revoke-devices",
                           headers=admin.headers)
    assert response.status_code == 200, response.get_json()


def _cli_revoke(client, runner, account, admin):
    result = runner.invoke(args=["revoke-devices", account.username])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("end", [_logout, _admin_revoke, _cli_revoke])
def test_ending_the_session_removes_the_subscription(client, runner, make_account, receiver,
                                                     vapid, end):
    officer, desk, admin = make_account("officer"), make_account("ltsa"), make_account("admin")
    kept = make_account("ltsa")
    subscribe(client, desk, receiver.browser("desk"))
    subscribe(client, kept, receiver.browser("kept"))
    send_referral(client, officer, new_person(client, officer))
    assert count(PushOutboxEntry) == 2
    end(client, runner, desk, admin)
    owners = db.session.execute(sa.select(PushSubscription.user_id)).scalars().all()
    assert owners == [kept.user_id]
    # Its unsent message goes with it; the other desk officer's stays.
    assert count(PushOutboxEntry) == 1
    push_worker.send_round()
    assert [d.path for d in receiver.deliveries] == ["/push/kept"]


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_says_is_gone_is_removed(client, make_account, receiver,
                                                                 vapid, status):
    officer, desk = make_account("officer"), make_account("ltsa")
    browser = receiver.browser("desk")
    subscribe(client, desk, browser)
    receiver.statuses[browser.path] = [status]
    send_referral(client, officer, new_person(client, officer))
    result = push_worker.send_round()
    assert (result.gone, result.sent, result.retried) == (1, 0, 0)
    assert count(PushSubscription) == 0 and count(PushOutboxEntry) == 0
    # The in-app list still has it.
    assert told() == [(desk.user_id, "new_referral")]


@pytest.mark.parametrize("status", [500, 429, 503, 413])
def test_other_failures_retry_with_backoff_then_stop(client, app, make_account, receiver, vapid,
                                                     status):
    app.config.update(PUSH_MAX_ATTEMPTS=4, PUSH_RETRY_SECONDS=30)
    officer, desk = make_account("officer"), make_account("ltsa")
    browser = receiver.browser("desk")
    subscribe(client, desk, browser)
    receiver.statuses[browser.path] = [status] * 10
    send_referral(client, officer, new_person(client, officer))
    now = dt.datetime.now(dt.UTC)
    delays = []
    for attempt in range(1, 5):
        assert push_worker.send_round(now).claimed == 1, attempt
        entry = db.session.execute(sa.select(PushOutboxEntry)).scalar_one()
        assert entry.attempts == attempt and str(status) in entry.last_error
        if attempt < 4:
            due = entry.next_attempt_at.replace(tzinfo=dt.UTC) if \
                entry.next_attempt_at.tzinfo is None else entry.next_attempt_at
            delays.append(round((due - now).total_seconds()))
            # Not due before its time.
            assert push_worker.send_round(due - dt.timedelta(seconds=1)).claimed == 0
            now = due
    assert delays == [30, 60, 120]
    assert entry.status == "failed"
    assert push_worker.send_round(now + dt.timedelta(days=1)).claimed == 0
    assert len(receiver.deliveries) == 4 and count(PushSubscription) == 1


def test_a_worker_that_stops_mid_way_loses_nothing(client, app, make_account, receiver, vapid):
    officer, desk = make_account("officer"), make_account("ltsa")
    subscribe(client, desk, receiver.browser("desk"))
    send_referral(client, officer, new_person(client, officer))
    now = dt.datetime.now(dt.UTC)
    token, jobs = push_worker.claim(now)  # claimed, then the worker stops before sending
    assert len(jobs) == 1 and receiver.deliveries == []
    # Another worker leaves it alone while the lease holds, and takes it over after.
    assert push_worker.send_round(now + dt.timedelta(seconds=60)).claimed == 0
    later = now + dt.timedelta(seconds=app.config["PUSH_LEASE_SECONDS"] + 1)
    assert push_worker.send_round(later).sent == 1
    assert len(receiver.delivered()) == 1
    entry = db.session.execute(sa.select(PushOutboxEntry)).scalar_one()
    assert (entry.status, entry.attempts) == ("sent", 2)


def test_two_workers_send_each_message_once(app, client, make_account, receiver, vapid,
                                            monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("one worker on SQLite (no row locks); the PostgreSQL run covers this")
    officer = make_account("officer")
    desks = [make_account("ltsa") for _ in range(3)]
    for i, desk in enumerate(desks):
        subscribe(client, desk, receiver.browser(f"desk{i}"))
    person_id = new_person(client, officer)
    for _ in range(8):
        send_referral(client, officer, person_id)
    total = count(PushOutboxEntry)
    assert total == 24
    monkeypatch.setattr(push_worker, "BATCH", 4)
    claimed = {}
    real_claim = push_worker.claim

    def recording_claim(now, limit=push_worker.BATCH):
        token, jobs = real_claim(now, limit)
        claimed.setdefault(threading.current_thread().name, []).append(
            [job["id"] for job in jobs])
        return token, jobs

    monkeypatch.setattr(push_worker, "claim", recording_claim)
    # Each worker's first claim, once selected (and locked), waits until the other has
    # selected too, before either commits: both claims are open at once, so only the row
    # locks (SKIP LOCKED) keep them apart. Without SKIP LOCKED the second would wait for the
    # first and the barrier would break.
    barrier = threading.Barrier(2, timeout=10)
    waited = set()

    def both_select(conn, cursor, statement, parameters, context, executemany):
        name = threading.current_thread().name
        claiming = statement.lstrip().startswith("SELECT") and "claimed_until" in statement
        if claiming and name not in waited:
            waited.add(name)
            barrier.wait()

    sa.event.listen(db.engine, "after_cursor_execute", both_select)
    errors = []

    def work():
        try:
            with app.app_context():
                while push_worker.send_round().claimed:
                    pass
                db.session.remove()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, name=f"worker{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sa.event.remove(db.engine, "after_cursor_execute", both_select)
    assert errors == [] and receiver.errors == []
    assert not barrier.broken and waited == {"worker0", "worker1"}
    first, second = ([i for ids in rounds for i in ids] for rounds in claimed.values())
    # The first claims, made at once, took different rows; and no row was taken twice.
    assert claimed["worker0"][0] and claimed["worker1"][0]
    assert set(first).isdisjoint(second) and len(first) + len(second) == total
    ids = [(d.path, d.payload["id"]) for d in receiver.deliveries]
    assert len(ids) == len(set(ids)) == total
    db.session.expire_all()
    assert db.session.execute(sa.select(PushOutboxEntry.status).distinct()).scalars().all() == [
        "sent"]


def test_vapid_keys_command(app, runner, tmp_path, monkeypatch):
    result = runner.invoke(args=["vapid-keys"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.strip().splitlines())
    assert set(lines) == {"VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "VAPID_SUBJECT"}
    assert config.vapid_public_key(lines["VAPID_PRIVATE_KEY"]) == lines["VAPID_PUBLIC_KEY"]
    # --instance keeps a key once, owner-only, and the settings then read it.
    for name in ("VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    app.instance_path = str(tmp_path)
    app.config.update(VAPID_PRIVATE_KEY="")
    assert runner.invoke(args=["vapid-keys", "--instance"]).exit_code == 0
    path = tmp_path / config.VAPID_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    settings = config.load(str(tmp_path))
    assert settings["VAPID_PRIVATE_KEY"] == path.read_text()
    assert settings["VAPID_PUBLIC_KEY"] == config.vapid_public_key(path.read_text())
    assert settings["VAPID_SUBJECT"] == "mailto:admin@localhost"
    app.config.update(VAPID_PRIVATE_KEY=settings["VAPID_PRIVATE_KEY"])
    assert runner.invoke(args=["vapid-keys", "--instance"]).output == ""
    assert path.read_text() == settings["VAPID_PRIVATE_KEY"]


def test_push_worker_once(app, runner, client, make_account, receiver, vapid):
    officer, desk = make_account("officer"), make_account("ltsa")
    subscribe(client, desk, receiver.browser("desk"))
    send_referral(client, officer, new_person(client, officer))
    result = runner.invoke(args=["push-worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    assert len(receiver.delivered()) == 1


def test_nothing_is_told_of_a_referral_the_recipient_cannot_read(client, make_account):
    """A partner is told of a forward to its own organisation only (the scope rule decides)."""
    officer, desk = make_account("officer"), make_account("ltsa")
    sbmi = make_account("partner", organisation_code="sbmi")
    referral_id = send_referral(client, officer, new_person(client, officer))
    response = event(client, desk, referral_id, kind="status", status="dirujuk_lanjut",
                     organisation_id=organisation_id("wcc_mawar_balqis"))
    assert response.status_code == 201
    assert sbmi.user_id not in [u for u, _ in told()]
    assert db.session.get(Referral, referral_id).status == "dirujuk_lanjut"


@pytest.mark.parametrize("status, applied", [("selesai", False), ("diterima", True)])
def test_a_late_event_kept_flagged_tells_no_one(client, make_account, status, applied):
    """From a phone, a transition the rules do not allow is kept in the history, flagged,
    and changes nothing: nobody is told of a change that did not happen."""
    officer, desk = make_account("officer"), make_account("ltsa")
    referral_id = send_referral(client, officer, new_person(client, officer))
    # The phone's clock is now, after the referral was sent.
    phone = Phone(client, desk, wall_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    phone.new("referral_events", {"referral_id": referral_id, "kind": "status",
                                  "status": status, "note": "", "organisation_id": None,
                                  "seen_status": "terkirim"})
    phone.sync()
    assert (db.session.get(Referral, referral_id).status == status) is applied
    expected = [(desk.user_id, "new_referral")]
    if applied:
        expected.append((officer.user_id, "status_changed"))
    assert told() == expected


def test_a_change_never_waits_for_a_push_service(client, make_account, receiver, vapid,
                                                 monkeypatch):
    """Requests and syncs only write the outbox: nothing is sent until the worker runs."""
    officer, desk = make_account("officer"), make_account("ltsa")
    subscribe(client, desk, receiver.browser("desk"))

    def no_sending(*args, **kwargs):
        raise AssertionError("a push was sent while answering a request")

    monkeypatch.setattr(notify, "send", no_sending)
    referral_id = send_referral(client, officer, new_person(client, officer))
    phone = Phone(client, desk, wall_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    phone.new("referral_events", {"referral_id": referral_id, "kind": "status",
                                  "status": "diterima", "note": "", "organisation_id": None,
                                  "seen_status": "terkirim"})
    phone.sync()
    assert receiver.deliveries == []
    statuses = db.session.execute(sa.select(PushOutboxEntry.status)).scalars().all()
    assert statuses == ["pending"]
    monkeypatch.undo()
    assert push_worker.send_round().sent == 1
