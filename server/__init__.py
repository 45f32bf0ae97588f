"""Jangkau: the Flask server of the outreach and referral app."""

from pathlib import Path

from flask import Flask

from . import config
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

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    logs.install()
    return app


def register_extensions(app: Flask) -> None:
    """Bind the database and migrations."""
    db.init_app(app)
    migrations = Path(__file__).parent / "migrations"
    # render_as_batch lets Alembic alter tables on SQLite too.
    migrate.init_app(app, db, directory=str(migrations), render_as_batch=True)
    # Every write of a synced row, by any path, takes the next change sequence.
    from flask_sqlalchemy.session import Session

    from sync import sequence

    from .models import ConflictEntry
    from .models import PossibleDuplicate
    from .models import SyncedRecord
    from .models import SyncExit

    sequence.install(Session, (SyncedRecord, ConflictEntry, PossibleDuplicate),
                     conflict_model=ConflictEntry, exit_model=SyncExit)


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
