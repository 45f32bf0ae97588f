"""Settings read from the environment, with safe defaults."""

import os
import secrets
from pathlib import Path


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "jangkau.sqlite")
    # Heroku-style URLs say postgres://, which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    # Prefer psycopg 3, the driver the project installs.
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, or one generated once and kept in the instance folder."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written with owner-only permissions: anyone who reads it could forge sessions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def load(instance_path: str) -> dict:
    """Build the settings mapping for create_app."""
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Failed logins allowed in the window before the account (or address) must wait.
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": _int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
        "LOGIN_WINDOW_MINUTES": _int("LOGIN_WINDOW_MINUTES", 15),
        # Device tokens unused this long stop working; the phone must log in again.
        "TOKEN_IDLE_DAYS": _int("TOKEN_IDLE_DAYS", 90),
        "PAGE_SIZE_MAX": _int("PAGE_SIZE_MAX", 200),
        # How many proxies in front of the app set X-Forwarded-For (0: trust none).
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 4 * 1024 * 1024),
        # Working days (Mon-Fri) the LTSA desk has to act on a new referral before it is overdue.
        "REFERRAL_OVERDUE_WORKING_DAYS": _int("REFERRAL_OVERDUE_WORKING_DAYS", 2),
    }
