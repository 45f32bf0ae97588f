"""Fixtures: the app on SQLite and on PostgreSQL, a client, and users of every role.

Every log record of the run, at every level, lands in one file (`JANGKAU_TEST_LOG`, by
default instance/test-suite.log), with a line per request the app answers (the test
client's and the live servers' alike, query strings included, as a proxy in front would
log them); `make test` then runs tools/check_logs.py over it: no NIK, no phone number.
"""

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa

from server import create_app
from server.accounts import create_user
from server.extensions import db
from server.models import CommunityGroup
from server.regions import load_regions
from server.seed import ensure_organisations

POSTGRES_URL = os.environ.get(
    "JANGKAU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Tables kept between tests: reference data that no test changes.
KEPT_TABLES = {"regions", "alembic_version", "sync_counters"}

DESA_A = "32.09.01.2008"  # Waled Desa, kecamatan Waled
DESA_B = "32.09.02.2008"  # a desa in Ciledug
PASSWORD = "rahasia-uji-123"


TEST_LOG = Path(os.environ.get("JANGKAU_TEST_LOG")
                or Path(__file__).resolve().parent.parent / "instance" / "test-suite.log")
access_log = logging.getLogger("jangkau.test.access")
_LOG_HANDLER = pytest.StashKey[logging.Handler]()


def _log_request(sender, response, **extra) -> None:
    # What a default access log (or a proxy in front) would keep: the full request line.
    request = flask.request
    access_log.info('%s "%s %s" %s', request.remote_addr, request.method,
                    request.full_path.rstrip("?"), response.status_code)


def pytest_configure(config):
    """One log file for the whole run, every logger at every level."""
    TEST_LOG.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(TEST_LOG, mode="w", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    config.stash[_LOG_HANDLER] = handler
    flask.request_finished.connect(_log_request)


def pytest_unconfigure(config):
    flask.request_finished.disconnect(_log_request)
    handler = config.stash.get(_LOG_HANDLER, None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as e:  # any failure means: no usable server
        return f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated database with the regions: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite")
        cleanup = None
    else:
        why = _postgres_available()
        if why and os.environ.get("JANGKAU_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required (JANGKAU_REQUIRE_POSTGRES) but not reachable: {why}")
        if why:
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({why}); "
                        "start it or set JANGKAU_TEST_POSTGRES_URL")
        schema = f"jangkau_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"

        def cleanup():
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        load_regions(db.session)
        db.session.commit()
        db.engine.dispose()
    yield url
    if cleanup:
        cleanup()


def _empty_tables() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEPT_TABLES]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.execute(sa.text("UPDATE sync_counters SET value = 0"))
    db.session.commit()


@pytest.fixture
def app(database_url):
    """The app on an emptied database holding the regions and the standard organisations."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        _empty_tables()
        ensure_organisations(db.session)
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A runner for the app's flask commands."""
    return app.test_cli_runner()


@dataclass
class Account:
    user_id: int
    username: str
    role: str
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_account(app, client):
    """Create a user of a role in a scope and log in; returns an Account with its token."""
    counter = iter(range(1, 10_000))

    def make(role: str, desa_code: str | None = DESA_A, organisation_code: str | None = None,
             group_id: str | None = None, username: str | None = None) -> Account:
        username = username or f"{role}{next(counter)}"
        if role == "community" and group_id is None:
            group = CommunityGroup(name=f"Pokmas {username}", desa_code=desa_code)
            db.session.add(group)
            db.session.flush()
            group_id = group.id
        if role == "partner" and organisation_code is None:
            organisation_code = "sbmi"
        user = create_user(
            username, PASSWORD, f"Uji {username}", role,
            desa_code=desa_code if role in ("officer", "community") else None,
            organisation_code=organisation_code, community_group_id=group_id,
        )
        db.session.commit()
        response = client.post("/api/auth/login",
                               json={"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        return Account(user.id, username, role, response.get_json()["token"])

    return make


@pytest.fixture
def fast_passwords(monkeypatch):
    """Cheap Argon2 parameters, for tests that log in many accounts (login itself is tested
    with the real parameters in test_accounts.py)."""
    from argon2 import PasswordHasher

    from server import passwords

    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
