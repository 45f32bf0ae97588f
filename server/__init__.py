"""Jangkau: the Flask server of the outreach and referral app."""

from pathlib import Path

from flask import Flask
from flask import request

from . import config
from . import crypto
from . import logs
from .extensions import db
from .extensions import migrate


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error handlers, commands."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config.load(app.instance_path))
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False

    register_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_headers(app)
    register_commands(app)
    logs.install()
    return app


def register_proxy(app: Flask) -> None:
    """Behind PROXY_COUNT proxies, take the client's address and scheme from the headers
    they set (X-Forwarded-For, X-Forwarded-Proto): the per-address login limit and HSTS
    need them. With 0 those headers are ignored: a client could forge them."""
    count = app.config["PROXY_COUNT"]
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def register_headers(app: Flask) -> None:
    """The security headers of every answer, set here only."""

    @app.after_request
    def security_headers(response):
        # No answer is to be read as another type than it says (a JSON error as HTML, say).
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path == "/api" or request.path.startswith("/api/"):
            # API answers hold personal data: no browser or proxy cache keeps them.
            response.headers["Cache-Control"] = "no-store"
        if request.is_secure:
            # Only over TLS: a browser ignores it over plain HTTP, and a site served
            # without TLS (a test server, say) must not be locked to https.
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


def register_extensions(app: Flask) -> None:
    """Bind the database and migrations, and read the keys of the encrypted fields."""
    crypto.init_app(app)
    db.init_app(app)
    migrations = Path(__file__).parent / "migrations"
    # render_as_batch lets Alembic alter tables on SQLite too.
    migrate.init_app(app, db, directory=str(migrations), render_as_batch=True)
    # Every write of a synced row, by any path, takes the next change sequence.
    from flask_sqlalchemy.session import Session

    from sync import sequence

    from . import change_scopes
    from .models import ConflictEntry
    from .models import PossibleDuplicate
    from .models import SyncedRecord
    from .models import SyncExit

    sequence.install(Session, (SyncedRecord, ConflictEntry, PossibleDuplicate),
                     conflict_model=ConflictEntry, exit_model=SyncExit)
    # The scopes that read a row through another record follow each new sequence.
    change_scopes.install(Session)


def register_blueprints(app: Flask) -> None:
    """Mount the JSON API, the health check and the installable app."""
    from .api import api_bp
    from .health import health_bp
    from .pwa import pwa_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(pwa_bp)


def register_errorhandlers(app: Flask) -> None:
    """Answer API errors as JSON, never as an HTML page or a traceback."""
    from .errors import register

    register(app)


def register_commands(app: Flask) -> None:
    """Add the flask commands: init, create-user, revoke-devices, demo."""
    from .cli import register

    register(app)
