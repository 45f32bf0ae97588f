"""Devices and accounts: why a token ended decides what its phone is told (`device_revoked`:
erase; `unauthorized` or `session_expired`: keep the outbox and log in again), an admin
revokes one lost phone, deactivation ends every token for good, idle tokens expire."""

import datetime as dt

import pytest
import sqlalchemy as sa

from server import auth
from server.extensions import db
from server.models import AuditEntry
from server.models import DeviceToken
from server.models import PushSubscription
from server.models import utcnow
from tests.conftest import PASSWORD
from tests.test_push import receiver  # noqa: F401  (fixture)
from tests.test_push import vapid  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_passwords")


def login(client, username, device_name="HP kedua"):
    response = client.post("/api/auth/login", json={
        "username": username, "password": PASSWORD, "device_name": device_name})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def answer(client, headers):
    """(status, error code or None) of GET /api/me with these headers."""
    response = client.get("/api/me", headers=headers)
    body = response.get_json() or {}
    return response.status_code, body.get("error", {}).get("code")


def devices(client, admin, user_id):
    response = client.get(f"/api/admin/users/{user_id}/devices", headers=admin.headers)
    assert response.status_code == 200
    return response.get_json()["items"]


def revoke(client, admin, user_id, device_id):
    return client.post(f"/api/admin/users/{user_id}/devices/{device_id}/revoke",
                       headers=admin.headers)


def device_id_of(client, admin, user_id, name):
    (found,) = [d["id"] for d in devices(client, admin, user_id) if d["device_name"] == name]
    return found


def test_admin_revokes_one_lost_phone(client, make_account, receiver, vapid):  # noqa: F811
    admin, officer = make_account("admin"), make_account("officer")
    lost = login(client, officer.username, "HP hilang")
    stored = client.post("/api/push/subscription", json=receiver.browser("lost").subscription(),
                         headers=lost)
    assert stored.status_code == 204
    lost_id = device_id_of(client, admin, officer.user_id, "HP hilang")

    response = revoke(client, admin, officer.user_id, lost_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == lost_id and body["revoked_reason"] == "admin" and body["revoked_at"]
    # The lost phone is told to erase; the officer's other phone works on.
    assert answer(client, lost) == (401, "device_revoked")
    assert answer(client, officer.headers) == (200, None)
    assert db.session.execute(sa.select(sa.func.count()).select_from(PushSubscription)
                              ).scalar_one() == 0
    entries = db.session.execute(sa.select(AuditEntry.entity, AuditEntry.entity_id,
                                           AuditEntry.detail)
                                 .where(AuditEntry.action == "revoke")).all()
    assert entries == [("device", str(lost_id), {"user_id": officer.user_id})]
    # Again: nothing changes and nothing more is audited.
    again = revoke(client, admin, officer.user_id, lost_id)
    assert again.status_code == 200 and again.get_json()["revoked_at"] == body["revoked_at"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "revoke")).scalar_one() == 1
    listed = {d["id"]: d["revoked_reason"] for d in devices(client, admin, officer.user_id)}
    assert listed == {lost_id: "admin", **{k: None for k in listed if k != lost_id}}
    assert len(listed) == 2


def test_revoking_a_device_is_the_admins_and_names_a_device_of_that_account(
        client, make_account, subtests):
    admin, officer, other = (make_account("admin"), make_account("officer"),
                             make_account("officer"))
    officer_device = device_id_of(client, admin, officer.user_id, "")
    cases = [
        ("an officer", officer.headers, officer.user_id, officer_device, 403),
        ("another account's device", admin.headers, other.user_id, officer_device, 404),
        ("an unknown device", admin.headers, officer.user_id, 999_999, 404),
        ("an unknown account", admin.headers, 999_999, officer_device, 404),
    ]
    for what, headers, user_id, device_id, status in cases:
        with subtests.test(what):
            response = client.post(f"/api/admin/users/{user_id}/devices/{device_id}/revoke",
                                   headers=headers)
            assert response.status_code == status
    assert answer(client, officer.headers) == (200, None)
    assert answer(client, other.headers) == (200, None)


def test_logout_is_not_a_revocation(client, make_account):
    officer = make_account("officer")
    assert client.post("/api/auth/logout", headers=officer.headers).status_code == 204
    # The phone that logged out cleared its own data; it is asked to log in, never to wipe.
    assert answer(client, officer.headers) == (401, "unauthorized")
    reason = db.session.execute(sa.select(DeviceToken.revoked_reason)).scalar_one()
    assert reason == "logout"


@pytest.mark.parametrize("how", ["api", "cli"])
def test_revoking_every_device_of_an_account_wipes_each(client, runner, make_account, how):
    admin, officer = make_account("admin"), make_account("officer")
    second = login(client, officer.username)
    if how == "api":
        response = client.post(f"/api/admin/users/{officer.user_id}/revoke-devices",
                               headers=admin.headers)
        assert response.get_json() == {"revoked": 2}
    else:
        assert runner.invoke(args=["revoke-devices", officer.username]).exit_code == 0
    assert answer(client, officer.headers) == (401, "device_revoked")
    assert answer(client, second) == (401, "device_revoked")
    reasons = db.session.execute(sa.select(DeviceToken.revoked_reason)
                                 .where(DeviceToken.user_id == officer.user_id)).scalars()
    assert set(reasons) == {"admin"}


def test_deactivation_revokes_every_token_for_good(client, make_account):
    admin, officer = make_account("admin"), make_account("officer")
    second = login(client, officer.username)
    url = f"/api/admin/users/{officer.user_id}"
    assert client.patch(url, json={"is_active": False}, headers=admin.headers).status_code == 200
    assert answer(client, officer.headers) == (401, "device_revoked")
    reasons = db.session.execute(sa.select(DeviceToken.revoked_reason)
                                 .where(DeviceToken.user_id == officer.user_id)).scalars()
    assert set(reasons) == {"deactivated"}
    assert client.patch(url, json={"is_active": True}, headers=admin.headers).status_code == 200
    # Active again, and still no old token works: a lost phone's stays dead.
    assert answer(client, officer.headers) == (401, "device_revoked")
    assert answer(client, second) == (401, "device_revoked")
    assert answer(client, login(client, officer.username)) == (200, None)
    # Another change of an active account revokes nothing.
    fresh = login(client, officer.username, "HP baru")
    assert client.patch(url, json={"full_name": "Bu Yati", "is_active": True},
                        headers=admin.headers).status_code == 200
    assert answer(client, fresh) == (200, None)


@pytest.fixture
def clock(monkeypatch):
    """Move the clock auth reads: clock(days) puts it that many days ahead."""
    start = utcnow()

    def move(days: float) -> None:
        monkeypatch.setattr(auth, "utcnow", lambda: start + dt.timedelta(days=days))

    return move


@pytest.mark.parametrize(("days_unused", "expected"), [
    (0, (200, None)),
    (89.9, (200, None)),
    (90.1, (401, "session_expired")),
    (400, (401, "session_expired")),
])
def test_a_token_unused_too_long_expires(app, client, make_account, clock, days_unused,
                                         expected):
    assert app.config["TOKEN_IDLE_DAYS"] == 90
    officer = make_account("officer")
    clock(days_unused)
    assert answer(client, officer.headers) == expected


def test_use_keeps_a_token_alive_and_revocation_outlives_idleness(client, make_account, clock):
    admin, officer = make_account("admin"), make_account("officer")
    lost = login(client, officer.username, "HP hilang")
    lost_id = device_id_of(client, admin, officer.user_id, "HP hilang")
    assert revoke(client, admin, officer.user_id, lost_id).status_code == 200
    clock(60)
    assert answer(client, officer.headers) == (200, None)
    clock(140)
    # 80 days after its last use: alive. The lost phone, back after 140 days, still erases.
    assert answer(client, officer.headers) == (200, None)
    assert answer(client, lost) == (401, "device_revoked")


def test_an_unknown_reason_is_refused(make_account):
    officer = make_account("officer")
    device = db.session.execute(sa.select(DeviceToken)).scalar_one()
    with pytest.raises(ValueError):
        auth.revoke_device(device, "lost")
    assert device.revoked_at is None and officer.user_id == device.user_id


def test_tokens_of_accounts_deactivated_before_the_upgrade_end_for_good(tmp_path):
    """A data migration, on SQLite (the schema itself is compared with the models on both
    databases in test_migrations.py): the live tokens of an account already inactive are
    revoked as deactivated, so activating it again brings none back."""
    from flask_migrate import upgrade

    from server import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite'}",
                      "TESTING": True})
    with app.app_context():
        upgrade(revision="febc7860b331")
        now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        with db.engine.begin() as conn:
            for user_id, active in ((1, True), (2, False)):
                conn.execute(sa.text(
                    "INSERT INTO users (id, username, full_name, password_hash, role, "
                    "is_active, created_at) VALUES (:id, :u, 'x', 'x', 'admin', :a, :t)"),
                    {"id": user_id, "u": f"u{user_id}", "a": active, "t": now})
            for token_id, user_id, revoked in ((1, 1, None), (2, 2, None), (3, 2, now)):
                conn.execute(sa.text(
                    "INSERT INTO device_tokens (id, user_id, token_hash, device_name, "
                    "created_at, last_used_at, revoked_at) VALUES (:id, :user, :h, '', :t, :t, "
                    ":r)"), {"id": token_id, "user": user_id, "h": f"h{token_id}", "t": now,
                             "r": revoked})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, revoked_at IS NOT NULL, revoked_reason "
                                        "FROM device_tokens ORDER BY id")).all()
        db.engine.dispose()
    # Live of an active account: untouched; live of an inactive one: ended; ended already:
    # its reason unknown, so it stays an ordinary ended session.
    assert [tuple(r) for r in rows] == [(1, 0, None), (2, 1, "deactivated"), (3, 1, None)]
