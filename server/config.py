"""Settings read from the environment, with safe defaults."""

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .jsonio import engine_options

VAPID_KEY_FILE = "vapid_private_key"


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "jangkau.sqlite")
    return database_url(url)


def database_url(url: str) -> str:
    """A database URL as given by an operator, in the form SQLAlchemy is to use."""
    # Heroku-style URLs say postgres://, which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    # Prefer psycopg 3, the driver the project installs.
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def instance_secret(instance_path: str, name: str, make: Callable[[], str]) -> str:
    """The secret `name` from the environment, or one made once by `make` and kept in the
    instance folder (file `name` in lower case), so restarts of a development server or of
    the tests keep reading what they wrote."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    path = Path(instance_path) / name.lower()
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only permissions: whoever reads the file could forge sessions or read the data.
    # Written whole under a name of its own, then linked into place: of several processes
    # starting at once (server workers), one writes and the others read what it wrote.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def _random_key() -> str:
    """32 random bytes, base64: a data key (AES-256) or a keyed-hash key."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _vapid_keys(instance_path: str) -> tuple[str, str]:
    """(private, public) VAPID keys, base64url: from the environment, else from
    instance/vapid_private_key (written by `flask vapid-keys --instance`), else none."""
    private = os.environ.get("VAPID_PRIVATE_KEY", "").strip()
    public = os.environ.get("VAPID_PUBLIC_KEY", "").strip()
    path = Path(instance_path) / VAPID_KEY_FILE
    if not private and path.exists():
        private, public = path.read_text().strip(), ""
    if private and not public:
        public = vapid_public_key(private)
    return private, public


def vapid_public_key(private: str) -> str:
    """The public key (an uncompressed P-256 point, base64url) of a raw private key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.hazmat.primitives.serialization import PublicFormat

    raw = base64.urlsafe_b64decode(private + "=" * (-len(private) % 4))
    key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def load(instance_path: str) -> dict:
    """Build the settings mapping for create_app."""
    vapid_private, vapid_public = _vapid_keys(instance_path)
    return {
        "SECRET_KEY": instance_secret(instance_path, "SECRET_KEY",
                                      lambda: secrets.token_urlsafe(48)),
        # Keys of the personal fields encrypted at rest (server/crypto.py): `<id>:<key>`
        # pairs, the first encrypts, the others only decrypt; and the key of the NIK's
        # keyed hash.
        "DATA_KEYS": instance_secret(instance_path, "DATA_KEYS",
                                     lambda: "k1:" + _random_key()),
        "DATA_HMAC_KEY": instance_secret(instance_path, "DATA_HMAC_KEY", _random_key),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(),
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
        # Web push: without a key pair no push is sent (the in-app list still fills).
        "VAPID_PRIVATE_KEY": vapid_private,
        "VAPID_PUBLIC_KEY": vapid_public,
        "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT", "").strip() or "mailto:admin@localhost",
        # A referral the desk has not acted on for this many working days (Monday–Friday)
        # is overdue, and the desk is notified.
        "REFERRAL_OVERDUE_WORKING_DAYS": _int("REFERRAL_OVERDUE_WORKING_DAYS", 2),
        # The push worker: attempts per message before it is marked failed, the first retry
        # delay (doubled each time), and how long a claimed message is held before another
        # worker may take it over (the first one stopped mid-way).
        "PUSH_MAX_ATTEMPTS": _int("PUSH_MAX_ATTEMPTS", 6),
        "PUSH_RETRY_SECONDS": _int("PUSH_RETRY_SECONDS", 30),
        "PUSH_LEASE_SECONDS": _int("PUSH_LEASE_SECONDS", 120),
        # UU PDP Pasal 42-44 sets no period: closed records unchanged this long, and
        # archived persons or those whose consent was withdrawn this long ago, are erased
        # by `flask purge`; the consent notice states it.
        "RETENTION_MONTHS": _int("RETENTION_MONTHS", 60),
    }
