"""Login, device tokens, logout and the database-kept login rate limit."""

import datetime as dt

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import DeviceToken
from server.models import LoginFailure
from tests.conftest import PASSWORD


def test_login_returns_token_and_user(client, make_account):
    account = make_account("officer")
    response = client.get("/api/me", headers=account.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["username"] == account.username
    assert body["role"] == "officer"
    assert body["role_label"] == "Perangkat Desa"
    assert body["desa_code"] == "32.09.01.2008"
    assert "password_hash" not in body


def test_token_stored_only_as_hash(app, make_account):
    account = make_account("officer")
    stored = db.session.execute(sa.select(DeviceToken.token_hash)).scalars().all()
    assert len(stored) == 1 and stored[0] != account.token and len(stored[0]) == 64


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer not-a-token"}, 401),
    ({"Authorization": "Basic abc"}, 401),
])
def test_requests_without_valid_token_are_refused(client, headers, status):
    response = client.get("/api/me", headers=headers)
    assert response.status_code == status
    message = response.get_json()["error"]["message"]
    assert message["id"] and message["en"]


def test_logout_revokes_only_this_device(client, make_account):
    account = make_account("officer")
    second = client.post("/api/auth/login",
                         json={"username": account.username, "password": PASSWORD}).get_json()
    assert client.post("/api/auth/logout", headers=account.headers).status_code == 204
    assert client.get("/api/me", headers=account.headers).status_code == 401
    other = {"Authorization": f"Bearer {second['token']}"}
    assert client.get("/api/me", headers=other).status_code == 200


def test_wrong_password_is_401_and_names_nothing_more(client, make_account):
    account = make_account("officer")
    response = client.post("/api/auth/login", json={"username": account.username,
                                                     "password": "salah-sekali"})
    assert response.status_code == 401
    assert response.get_json()["error"]["message"]["en"] == "Wrong username or password."
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "x"})
    assert unknown.get_json()["error"]["message"] == response.get_json()["error"]["message"]


def test_login_validation_names_each_field(client):
    response = client.post("/api/auth/login", json={"password": 5})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert fields["username"][0]["id"] == "Wajib diisi."
    assert fields["username"][0]["en"] == "Missing data for required field."
    assert fields["password"][0]["en"] == "Not a valid string."


def test_account_lockout_after_failures_says_when(app, client, make_account):
    account = make_account("officer")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        r = client.post("/api/auth/login", json={"username": account.username, "password": "x"})
        assert r.status_code == 401
    # Now even the right password waits: the lock is on the account.
    r = client.post("/api/auth/login", json={"username": account.username, "password": PASSWORD})
    assert r.status_code == 429
    error = r.get_json()["error"]
    assert error["retry_after_minutes"] == app.config["LOGIN_WINDOW_MINUTES"]
    assert "Coba lagi dalam" in error["message"]["id"]
    assert f"Try again in {error['retry_after_minutes']} minutes" in error["message"]["en"]


def test_lockout_lifts_when_failures_age_out(app, client, make_account):
    account = make_account("officer")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"] + 1)
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        db.session.add(LoginFailure(username=account.username, address="127.0.0.1", at=old))
    db.session.commit()
    r = client.post("/api/auth/login", json={"username": account.username, "password": PASSWORD})
    assert r.status_code == 201


def test_address_limit_holds_across_accounts(app, client):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    for i in range(3):
        client.post("/api/auth/login", json={"username": f"guess{i}", "password": "x"})
    r = client.post("/api/auth/login", json={"username": "guess99", "password": "x"})
    assert r.status_code == 429


def test_failures_are_kept_in_the_database(app, client):
    # Several server processes share the database, not memory: the count must be there.
    client.post("/api/auth/login", json={"username": "someone", "password": "x"})
    count = db.session.execute(
        sa.select(sa.func.count()).select_from(LoginFailure).where(
            LoginFailure.username == "someone")
    ).scalar_one()
    assert count == 1


def test_login_is_case_insensitive_on_username(client, make_account):
    account = make_account("officer")
    r = client.post("/api/auth/login",
                    json={"username": account.username.upper(), "password": PASSWORD})
    assert r.status_code == 201
