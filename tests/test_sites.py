"""Several kabupaten on one deployment (server/sites.py): each host name reaches its own
database, and a push on one site never waits for another site's write lock."""

import threading
import uuid

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from server import create_app
from server.accounts import create_user
from server.extensions import db
from server.regions import load_regions
from server.seed import ensure_organisations
from server.sites import create_sites_app
from server.sites import sites_from_env
from sync import sequence
from tests.conftest import DESA_A
from tests.conftest import PASSWORD
from tests.conftest import POSTGRES_URL
from tests.conftest import Account
from tests.conftest import _postgres_available
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

HOSTS = ("cirebon.jangkau.test", "indramayu.jangkau.test")


def _migrated(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        load_regions(db.session)
        ensure_organisations(db.session)
        create_user("petugas", PASSWORD, "Uji petugas", "officer", desa_code=DESA_A)
        db.session.commit()
        db.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site_urls(request, tmp_path_factory):
    """Two migrated databases, one per site, each with an officer named `petugas`."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("sites")
        urls = [f"sqlite:///{folder / f'site{i}.sqlite'}" for i in range(2)]
        cleanup = None
    else:
        why = _postgres_available()
        if why:
            pytest.skip(f"PostgreSQL not reachable ({why})")
        schemas = [f"jangkau_site_{uuid.uuid4().hex[:10]}" for _ in range(2)]
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in POSTGRES_URL else "?"
        urls = [f"{POSTGRES_URL}{sep}options=-csearch_path%3D{s}" for s in schemas]

        def cleanup():
            with admin.begin() as conn:
                for schema in schemas:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    for url in urls:
        _migrated(url)
    yield dict(zip(HOSTS, urls, strict=True))
    if cleanup:
        cleanup()


@pytest.fixture
def sites(site_urls):
    """The deployment serving both sites; each site's connections closed after."""
    deployment = create_sites_app(site_urls)
    yield deployment
    for app in deployment.apps.values():
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


class SiteClient(Client):
    """A test client whose requests go to one host name."""

    def __init__(self, app, host: str) -> None:
        super().__init__(app)
        self.base_url = f"http://{host}"

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", self.base_url)
        return super().open(*args, **kwargs)


def _phone(sites_app, host: str) -> Phone:
    client = SiteClient(sites_app, host)
    response = client.post("/api/auth/login", json={"username": "petugas",
                                                    "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    return Phone(client, Account(answer["user"]["id"], "petugas", "officer", answer["token"]))


def test_each_host_name_reaches_its_own_database(sites):
    cirebon, indramayu = (_phone(sites, host) for host in HOSTS)
    visit_id = cirebon.new("visits", dict(VISIT))
    cirebon.sync_all()
    assert ("visits", visit_id) in cirebon.records

    indramayu.sync_all()
    assert ("visits", visit_id) not in indramayu.records
    stored = sa.text("SELECT count(*) FROM outreach_visits WHERE id = :id")
    with sites.apps[HOSTS[1]].app_context():
        assert db.session.execute(stored, {"id": visit_id}).scalar_one() == 0
    with sites.apps[HOSTS[0]].app_context():
        assert db.session.execute(stored, {"id": visit_id}).scalar_one() == 1


def test_a_push_on_one_site_does_not_wait_for_another_sites_lock(sites):
    cirebon, indramayu = (_phone(sites, host) for host in HOSTS)
    held, release = threading.Event(), threading.Event()

    def hold_cirebon_lock():
        # A long push on the first site: its transaction keeps the change-sequence lock.
        with sites.apps[HOSTS[0]].app_context():
            sequence.lock_writes(db.session)
            held.set()
            release.wait(120)
            db.session.rollback()
            db.session.remove()

    holder = threading.Thread(target=hold_cirebon_lock)
    holder.start()
    try:
        assert held.wait(60), "the first site's lock was never taken"
        visit_id = indramayu.new("visits", dict(VISIT))
        pushed = threading.Thread(target=indramayu.sync_all)
        pushed.start()
        # The other site's push finishes while the first site's lock is still held: a
        # push that waited for it would stay blocked until `release`.
        pushed.join(120)
        assert not pushed.is_alive(), "a push waited for another site's write lock"
        assert holder.is_alive()
        assert ("visits", visit_id) in indramayu.records
    finally:
        release.set()
        holder.join(60)
    cirebon.sync_all()
    assert ("visits", visit_id) not in cirebon.records


def test_an_unknown_host_gets_a_clear_answer(sites):
    client = SiteClient(sites, "elsewhere.test")
    response = client.get("/api/sync")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert "kabupaten" in error["message"]["id"] and "kabupaten" in error["message"]["en"]


def test_the_balancers_health_check_asks_every_site(sites):
    client = SiteClient(sites, "10.0.0.5")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "sites": 2}


@pytest.mark.parametrize("raw", ["", "[1]", "{}", "not json", '{"a.test": 5}'])
def test_a_malformed_sites_setting_is_named(monkeypatch, raw):
    monkeypatch.setenv("JANGKAU_SITES", raw)
    with pytest.raises(RuntimeError, match="JANGKAU_SITES"):
        sites_from_env()


def test_sites_setting_is_read(monkeypatch):
    monkeypatch.setenv("JANGKAU_SITES", '{"Cirebon.Jangkau.Test": "sqlite:///x.sqlite"}')
    assert sites_from_env() == {"cirebon.jangkau.test": "sqlite:///x.sqlite"}
