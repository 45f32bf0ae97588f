"""Browser tests: the app served by a real server in a thread, driven by Debian's Chromium.

One server per test session, on a SQLite file in a temporary folder, serving a copy of
pwa/ (tests that change an app file change the copy, never the source tree).
"""

import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect
from werkzeug.serving import make_server

from server import create_app
from server import passwords
from server.accounts import create_user
from server.extensions import db
from server.models import CommunityGroup
from server.pwa import PWA_DIR
from server.regions import load_regions
from server.seed import ensure_organisations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PHONE = {"width": 360, "height": 640}
# Assertions wait for their condition; on a busy machine a sync or a service worker install
# can take longer than Playwright's default 5 s, and waiting longer never passes a wrong page.
expect.set_options(timeout=20_000)
DESA_A = "32.09.01.2008"  # Waled Desa, kecamatan Waled
PASSWORD = "rahasia-uji-123"
# username, role, desa
ACCOUNTS = [
    ("perangkat.uji", "officer", DESA_A),
    ("perangkat.dua", "officer", DESA_A),
    ("pokmas.uji", "community", DESA_A),
    ("ltsa.uji", "ltsa", None),
]


def require_chromium() -> None:
    """Skip (or, with JANGKAU_REQUIRE_CHROMIUM, fail) when Debian's Chromium is missing."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("JANGKAU_REQUIRE_CHROMIUM"):
        pytest.fail(f"Chromium required (JANGKAU_REQUIRE_CHROMIUM) but {CHROMIUM} is missing")
    pytest.skip("Chromium not installed: apt-get install chromium")


@dataclass
class LiveServer:
    """The app on a real socket: its URL, the Flask app (for database checks), its pwa/."""

    url: str
    app: object
    pwa_dir: Path
    password: str = PASSWORD

    def query(self, statement):
        """Run a SQLAlchemy statement in the app and return the result's rows."""
        with self.app.app_context():
            rows = db.session.execute(statement).all()
            db.session.remove()
            return rows


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app on 127.0.0.1, port chosen by the system, with regions, organisations and
    accounts (see ACCOUNTS, all with PASSWORD)."""
    root = tmp_path_factory.mktemp("live")
    pwa_dir = root / "pwa"
    shutil.copytree(PWA_DIR, pwa_dir, ignore=shutil.ignore_patterns("node_modules", ".*"))
    # Cheap Argon2 for the whole session: logins are not what these tests measure.
    saved_hasher = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'live.sqlite'}",
                      "TESTING": True, "PWA_DIR": str(pwa_dir)})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        load_regions(db.session)
        ensure_organisations(db.session)
        group = CommunityGroup(name="Pokmas Uji Waled", desa_code=DESA_A)
        db.session.add(group)
        db.session.flush()
        for username, role, desa in ACCOUNTS:
            create_user(username, PASSWORD, f"Uji {username}", role, desa_code=desa,
                        community_group_id=group.id if role == "community" else None)
        db.session.commit()
        db.session.remove()
    # The server's request log goes to the run's log file (tests/conftest.py), which
    # tools/check_logs.py searches for NIKs and phone numbers after the suite.
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, pwa_dir)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        with app.app_context():
            db.engine.dispose()
        passwords._hasher = saved_hasher


@pytest.fixture(scope="session")
def base_url(live_server):
    """Relative URLs in page.goto() go to the live server."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser."""
    require_chromium()
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, base_url):
    """A cheap Android phone's screen."""
    return {**browser_context_args, "base_url": base_url, "viewport": PHONE,
            "is_mobile": True, "has_touch": True, "locale": "id-ID"}


def open_blank(page, base_url: str):
    """Load a page of the app's origin that runs none of the app, to call modules directly."""
    page.route(f"{base_url}/__blank", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>uji</title>"))
    page.goto(f"{base_url}/__blank")
    return page


@pytest.fixture
def blank_page(page, base_url):
    """A fresh context's page of the app's origin that runs none of the app."""
    return open_blank(page, base_url)


@pytest.fixture(scope="module")
def module_blank_page(browser, browser_context_args, base_url):
    """One blank page shared by a module's tests that keep no state in the browser."""
    context = browser.new_context(**browser_context_args)
    try:
        yield open_blank(context.new_page(), base_url)
    finally:
        context.close()


def wait_for_worker(page) -> None:
    """Register the service worker (as the app does) and wait until it controls the page."""
    page.evaluate("async () => { const b = await import('/js/sw-bridge.js'); "
                  "await b.registerServiceWorker({}); await navigator.serviceWorker.ready; }")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                           timeout=15000)


def log_in(page, username: str, password: str = PASSWORD) -> dict:
    """Log in through api.js and start the session in db.js; returns the session."""
    return page.evaluate(
        """async ([username, password]) => {
            const api = await import('/js/api.js');
            const db = await import('/js/db.js');
            const { token, user } = await api.login(username, password, 'uji');
            return db.startSession({ token, user });
        }""", [username, password])
