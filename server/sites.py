"""One deployment for several kabupaten: each kabupaten (a site) has its own database.

A kabupaten's data is its own partition of the sync: its own change sequence, so its own
write lock (sync/sequence.py). Pushes of phones in different kabupaten then never wait for
one another, and within a kabupaten the rule "a pull never skips a change" holds exactly as
on a single-kabupaten server. Everyone's scope lies inside one kabupaten (a desa, a
community group, the kabupaten's LTSA desk, a partner's branch), so no pull ever crosses two
partitions. The same gunicorn hosts serve every site; a request goes to its site by the host
name the app was installed from (cirebon.jangkau.example), so each kabupaten is its own
origin: its own service worker, IndexedDB and push subscriptions on the phone.

    JANGKAU_SITES='{"cirebon.jangkau.example": "postgresql+psycopg://.../jangkau_3209",
                    "indramayu.jangkau.example": "postgresql+psycopg://.../jangkau_3212"}'
    gunicorn -c gunicorn.conf.py "server.sites:create_sites_app()"

Each site's database is migrated, seeded and served by the usual commands with its own
DATABASE_URL (`flask db upgrade`, `flask init`, `flask push-worker`). docs/scaling.md says
how a province is served this way and what it costs.
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from flask import Flask
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from sync.errorlog import error_classes

from . import create_app
from .config import database_url
from .errors import error_body
from .extensions import db
from .jsonio import engine_options

SITES_ENV = "JANGKAU_SITES"
# Connections each site keeps per worker process: a province has some thirty sites, each
# worker a pool per site, so the pools stay small (PgBouncer in front multiplexes them).
SITE_POOL_SIZE = 2
SITE_MAX_OVERFLOW = 3


def sites_from_env() -> dict[str, str]:
    """{host name: database URL} from JANGKAU_SITES; a clear error when it is malformed."""
    raw = os.environ.get(SITES_ENV, "").strip()
    try:
        sites = json.loads(raw) if raw else None
    except ValueError as e:
        raise RuntimeError(f"{SITES_ENV} is not JSON: {e}") from None
    if not isinstance(sites, dict) or not sites or not all(
            isinstance(k, str) and isinstance(v, str) and k and v for k, v in sites.items()):
        raise RuntimeError(f"{SITES_ENV} must be a JSON object "
                           '{"host name": "database URL", ...} with at least one site')
    return {host.lower(): database_url(url) for host, url in sites.items()}


def site_config(database_url: str) -> dict:
    options = engine_options()
    if database_url.startswith("postgresql"):
        options |= {"pool_size": SITE_POOL_SIZE, "max_overflow": SITE_MAX_OVERFLOW}
    return {"SQLALCHEMY_DATABASE_URI": database_url, "SQLALCHEMY_ENGINE_OPTIONS": options}


class Sites:
    """A WSGI app that hands each request to the app of its site, by host name."""

    def __init__(self, apps: dict[str, Flask]) -> None:
        self.apps = apps

    def __call__(self, environ, start_response):
        request = Request(environ)
        app = self.apps.get(request.host.split(":", 1)[0].lower())
        if app is not None:
            return app(environ, start_response)
        if request.path == "/healthz":
            return self.health(environ, start_response)
        return _unknown_site(environ, start_response)

    def health(self, environ, start_response):
        """The balancer's check, made by address rather than a site's name: healthy when
        every site's database answers."""
        down = []
        for host, app in self.apps.items():
            with app.app_context():
                try:
                    db.session.execute(sa.text("SELECT 1"))
                except Exception as e:
                    # The class, not the message: it may quote the database URL.
                    app.logger.error("health check: %s: database did not answer: %s", host,
                                     error_classes(e))
                    down.append(host)
                finally:
                    db.session.remove()
        body = ({"status": "unavailable", "sites_down": down} if down
                else {"status": "ok", "sites": len(self.apps)})
        response = Response(json.dumps(body), status=503 if down else 200,
                            mimetype="application/json")
        return response(environ, start_response)


def _unknown_site(environ, start_response):
    # No site, so no app and no database: a plain answer in the API's error shape.
    body = error_body(404, "Alamat ini bukan situs Jangkau kabupaten mana pun.",
                      "This address is not the Jangkau site of any kabupaten.",
                      code="not_found")
    response = Response(json.dumps(body), status=404, mimetype="application/json")
    return response(environ, start_response)


def create_sites_app(sites: dict[str, str] | None = None) -> Sites:
    """Build every site's app at start: a bad URL or key fails the deployment, not the
    first phone of that kabupaten."""
    sites = sites if sites is not None else sites_from_env()
    return Sites({host: create_app(site_config(url)) for host, url in sites.items()})
