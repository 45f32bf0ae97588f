"""HTTP hardening: the client's address behind a proxy, the security headers of every
answer, login limits that hold under parallel attempts, the password rule, and numbers
too large for the database answered 4xx."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from server import auth
from server import create_app
from server.demo import DEMO_PASSWORD
from server.demo import demo_usernames
from server.extensions import db
from server.models import LoginFailure
from server.models import User
from server.passwords import MIN_PASSWORD_LENGTH
from server.passwords import password_problem
from tests.conftest import PASSWORD

WRONG = {"password": "bukan-sandinya"}


def _login(client, username: str, forwarded_for: str | None = None, password=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/api/auth/login", headers=headers,
                       json={"username": username, "password": password or WRONG["password"]})


@pytest.fixture
def make_app(database_url):
    """Another app on the test database, with its own settings; its connections are closed
    afterwards."""
    made = []

    def make(**settings):
        other = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True,
                            **settings})
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def proxied_app(make_app):
    """The app as deployed behind one proxy (PROXY_COUNT=1)."""
    return make_app(PROXY_COUNT=1, LOGIN_MAX_FAILURES_PER_ADDRESS=3)


# --- the client's address behind a proxy ------------------------------------------------

def test_behind_a_proxy_each_client_has_its_own_address_limit(app, proxied_app):
    client = proxied_app.test_client()
    for i in range(3):
        assert _login(client, f"tebak{i}", "203.0.113.7").status_code == 401
    assert _login(client, "tebak9", "203.0.113.7").status_code == 429
    # Another client behind the same proxy is not locked out by the first one.
    assert _login(client, "tebak9", "198.51.100.20").status_code == 401
    addresses = set(db.session.execute(sa.select(LoginFailure.address)).scalars())
    assert addresses == {"203.0.113.7", "198.51.100.20"}


def test_without_a_proxy_a_forged_forwarded_for_is_ignored(app, client):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    for i in range(3):
        assert _login(client, f"tebak{i}", f"203.0.113.{i}").status_code == 401
    assert _login(client, "tebak9", "198.51.100.20").status_code == 429
    addresses = set(db.session.execute(sa.select(LoginFailure.address)).scalars())
    assert addresses == {"127.0.0.1"}


# --- headers ------------------------------------------------------------------------------

API_REQUESTS = [
    ("get", "/api/openapi.json", {}, 200),
    ("get", "/api/me", {}, 401),
    ("get", "/api/tidak-ada", {}, 404),
    ("post", "/api/auth/login", {"data": "x", "content_type": "text/plain"}, 415),
    ("post", "/api/auth/login", {"json": {"username": 5}}, 422),
    ("delete", "/api/me", {}, 405),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), API_REQUESTS,
                         ids=[f"{m}-{p}-{s}" for m, p, _, s in API_REQUESTS])
def test_every_api_answer_is_not_stored_nor_sniffed(client, method, path, kwargs, status):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Plain HTTP: no HSTS (a browser ignores it there, and a test server must stay reachable).
    assert "Strict-Transport-Security" not in response.headers


def test_an_unexpected_error_has_the_headers_too(make_app):
    app = make_app()

    def boom():
        raise RuntimeError("test")

    app.add_url_rule("/api/boom", "boom", boom)
    response = app.test_client().get("/api/boom")
    assert response.status_code == 500
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/tidak-ada.js"])
def test_the_app_files_are_not_sniffed_and_keep_their_caching(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(("proxy_count", "forwarded_proto", "base_url", "hsts"), [
    (0, None, "https://localhost", True),
    (0, None, "http://localhost", False),
    (0, "https", "http://localhost", False),  # not trusted without a proxy
    (1, "https", "http://localhost", True),
    (1, "http", "http://localhost", False),
])
def test_hsts_only_over_tls(make_app, proxy_count, forwarded_proto, base_url, hsts):
    app = make_app(PROXY_COUNT=proxy_count)
    headers = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    for path in ("/api/openapi.json", "/"):
        response = app.test_client().get(path, base_url=base_url, headers=headers)
        assert ("Strict-Transport-Security" in response.headers) is hsts, path
        if hsts:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


# --- login limits under parallel attempts ---------------------------------------------------

def test_parallel_wrong_passwords_get_exactly_the_limit(app, make_account, monkeypatch):
    """N wrong passwords at once: exactly LIMIT are checked (401), the rest wait (429).

    Every attempt that reaches the password check waits there until all the others have
    been answered or have reached it too: without one step for count and record, all N
    would pass the count before any is recorded.
    """
    account = make_account("officer")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    attempts = limit + 5
    state = threading.Condition()
    progress = {"checking": 0, "answered": 0}
    real_verify = auth.verify_password

    def verify_when_all_arrived(password_hash, password):
        with state:
            progress["checking"] += 1
            state.notify_all()
            state.wait_for(lambda: progress["checking"] + progress["answered"] >= attempts,
                           timeout=30)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", verify_when_all_arrived)
    barrier = threading.Barrier(attempts)

    def attempt(_):
        client = app.test_client()
        barrier.wait(timeout=30)
        status = _login(client, account.username).status_code
        if status != 401:
            with state:
                progress["answered"] += 1
                state.notify_all()
        return status

    with ThreadPoolExecutor(attempts) as pool:
        statuses = list(pool.map(attempt, range(attempts)))
    assert sorted(statuses) == [401] * limit + [429] * (attempts - limit)
    failures = db.session.execute(
        sa.select(sa.func.count()).select_from(LoginFailure)
        .where(LoginFailure.username == account.username)).scalar_one()
    assert failures == limit


def test_a_right_password_clears_the_attempt_it_recorded(client, make_account):
    account = make_account("officer")
    assert _login(client, account.username).status_code == 401
    assert _login(client, account.username, password=PASSWORD).status_code == 201
    assert db.session.execute(sa.select(sa.func.count()).select_from(LoginFailure)).scalar() == 0


def test_failures_out_of_the_window_are_dropped(app, client):
    import datetime as dt

    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"] + 1)
    db.session.add(LoginFailure(username="lama", address="192.0.2.1", at=old))
    db.session.commit()
    assert _login(client, "baru").status_code == 401
    usernames = db.session.execute(sa.select(LoginFailure.username)).scalars().all()
    assert usernames == ["baru"]


# --- the password rule ----------------------------------------------------------------------

# The length is the schema's check ("Length must be between 10 and 256."), the rest the rule's.
BAD_PASSWORDS = [
    ("12345678", " 10 "),
    ("abcdefghi", " 10 "),
    ("password", " 10 "),
    ("Password123", "too common"),
    ("1234567890", "too common"),
    ("QWERTYUIOP", "too common"),
    ("Kasi.Kesra", "contain the username"),
    ("kasi.kesra-2025", "contain the username"),
]


@pytest.mark.parametrize(("password", "why"), BAD_PASSWORDS)
def test_admin_create_refuses_a_weak_password(client, make_account, fast_passwords,
                                              password, why):
    admin = make_account("admin")
    response = client.post("/api/admin/users", headers=admin.headers, json={
        "username": "kasi.kesra", "password": password, "full_name": "Pak Darma",
        "role": "ltsa"})
    assert response.status_code == 422, response.get_json()
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"password"}
    message = fields["password"][0]
    assert why in message["en"] and message["id"]
    assert db.session.execute(sa.select(User).where(User.username == "kasi.kesra")).first() is None


@pytest.mark.parametrize(("password", "why"), BAD_PASSWORDS)
def test_admin_update_refuses_a_weak_password(client, make_account, fast_passwords,
                                              password, why):
    admin = make_account("admin")
    user = make_account("ltsa", username="kasi.kesra")
    response = client.patch(f"/api/admin/users/{user.user_id}", headers=admin.headers,
                            json={"password": password})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"password"} and why in fields["password"][0]["en"]
    assert _login(client, "kasi.kesra", password=PASSWORD).status_code == 201


def test_a_good_password_is_accepted(client, make_account, fast_passwords):
    admin = make_account("admin")
    response = client.post("/api/admin/users", headers=admin.headers, json={
        "username": "kasi.kesra", "password": "desa-waled-2025", "full_name": "Pak Darma",
        "role": "ltsa"})
    assert response.status_code == 201
    assert _login(client, "kasi.kesra", password="desa-waled-2025").status_code == 201


def test_cli_create_user_refuses_a_common_password(runner):
    result = runner.invoke(args=["create-user", "dedi", "--role", "ltsa", "--name", "Dedi",
                                 "--password", "qwertyuiop"])
    assert result.exit_code != 0
    assert "--password" in result.output and "too common" in result.output


def test_the_rule(monkeypatch):
    assert MIN_PASSWORD_LENGTH == 10
    assert password_problem("a" * 9 + "!", "dedi") is None
    assert password_problem("ab-cd-ef-gh", "ab") is None  # too short a name to forbid
    assert password_problem("DEDI", "dedi")[1].startswith("Password needs")
    assert "username" in password_problem("Dedi-rahasia", "dedi")[1]
    # The project's own passwords meet it: the demo one for every demo account, the tests'.
    for username in demo_usernames():
        assert password_problem(DEMO_PASSWORD, username) is None, username
    assert password_problem(PASSWORD, "officer1") is None


# --- numbers too large for the database ---------------------------------------------------

HUGE = "99999999999999999999999"
INT_PATHS = [
    ("get", f"/api/admin/users/{HUGE}", 404),
    ("patch", f"/api/admin/users/{HUGE}", 404),
    ("get", f"/api/admin/users/{HUGE}/devices", 404),
    ("post", f"/api/admin/users/{HUGE}/revoke-devices", 404),
    ("get", f"/api/organisations/{HUGE}", 404),
    ("patch", f"/api/organisations/{HUGE}", 404),
    ("get", f"/api/admin/users/{2**31}", 404),
    ("get", f"/api/admin/users/{2**63 - 1}", 404),
    ("get", f"/api/admin/users/{2**63}", 404),
    ("get", "/api/admin/users?page=1e999", 400),
    ("get", f"/api/admin/users?page={HUGE}", 400),
    ("get", "/api/admin/users?page=-1", 400),
    ("get", "/api/admin/users?per_page=-1", 400),
    ("get", f"/api/admin/users?per_page={HUGE}", 400),
    ("get", f"/api/admin/users?organisation_id={HUGE}", 422),
    ("get", f"/api/admin/users?organisation_id=-{HUGE}", 422),
    ("get", "/api/admin/users?organisation_id=1e999", 422),
    ("get", f"/api/admin/users?organisation_id={2**31}", 422),
    ("get", f"/api/referrals?assigned_organisation_id={2**40}", 422),
]


@pytest.mark.parametrize(("method", "path", "status"), INT_PATHS,
                         ids=[f"{m}-{p}" for m, p, _ in INT_PATHS])
def test_numbers_beyond_64_bits_are_4xx(client, make_account, fast_passwords, method, path,
                                        status):
    admin = make_account("admin")
    kwargs = {"json": {"name": "x"}} if method in ("patch", "post") else {}
    response = getattr(client, method)(path, headers=admin.headers, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]["code"] in ("not_found", "bad_request", "invalid")


def test_every_route_with_an_int_converter_answers_404_beyond_the_ids(app, client, make_account,
                                                                   fast_passwords):
    import re

    admin = make_account("admin")
    tried = 0
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        for number in (HUGE, str(2**31), str(2**63)):
            path = re.sub(r"<int:\w+>", number, rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                response = client.open(path, method=method, headers=admin.headers, json={})
                assert response.status_code == 404, (method, path, response.get_json())
                assert response.get_json()["error"]["code"] == "not_found"
                tried += 1
    assert tried >= 18


@pytest.mark.parametrize("if_match", ['"²"', f'"{HUGE}"', '"-1"', '"1e9"'])
def test_a_strange_if_match_is_no_version(client, make_account, fast_passwords, if_match):
    officer = make_account("officer")
    response = client.patch("/api/visits/6f1c2c1e-9d43-4a53-8a38-2f3cf0b5a001",
                            headers=officer.headers | {"If-Match": if_match},
                            json={"notes": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("organisation_id", [2**31, 2**40, -(2**31) - 1])
def test_an_organisation_id_beyond_the_ids_in_a_body_is_422(client, fast_passwords,
                                                            organisation_id):
    from server.demo import load_demo
    from server.models import Referral

    load_demo(db.session)
    db.session.commit()
    token = _login(client, "ltsa.cirebon", password=DEMO_PASSWORD).get_json()["token"]
    referral_id = db.session.execute(sa.select(Referral.id).where(
        Referral.status == "terkirim").limit(1)).scalar_one()
    response = client.post(f"/api/referrals/{referral_id}/events",
                           headers={"Authorization": f"Bearer {token}"},
                           json={"kind": "status", "status": "dirujuk_lanjut",
                                 "organisation_id": organisation_id})
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["error"]["fields"]) == {"organisation_id"}
