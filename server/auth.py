"""Login, device tokens, and the current user of a request."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import secrets

import sqlalchemy as sa
from flask import current_app
from flask import g
from flask import request

from sync import sequence

from . import audit
from .domain import notifications
from .errors import ApiError
from .extensions import db
from .models import DeviceToken
from .models import LoginFailure
from .models import PushSubscription
from .models import User
from .models import utcnow
from .passwords import hash_password
from .passwords import needs_rehash
from .passwords import verify_password

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# A token's last use is written at most this often: one write per request would be waste.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)
# Failed logins out of the window dropped by one login attempt, at most.
STALE_BATCH = 1000


def _hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash suffices; only the hash is stored.
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def client_address() -> str:
    return (request.remote_addr or "unknown")[:45]


def _retry_minutes(oldest: dt.datetime, window: dt.timedelta, now: dt.datetime) -> int:
    return max(1, math.ceil((_aware(oldest) + window - now).total_seconds() / 60))


def _lock_key(value: str) -> int:
    # A stable signed 32-bit key: PostgreSQL's two-key advisory locks take int4 pairs.
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big", signed=True)


def _serialize_login_attempts(username: str, address: str, since: dt.datetime) -> None:
    """Make the count and the record of a login attempt one step: no other attempt on the
    same account or from the same address counts in between (parallel wrong passwords
    would otherwise all pass the count before any of them is recorded)."""
    if db.session.get_bind().dialect.name == "postgresql":
        # Held until commit; account and address keys in separate namespaces (1, 2), and
        # always taken in that order, so two attempts never wait on each other in a ring.
        for namespace, value in ((1, username), (2, address)):
            db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(namespace,
                                                                       _lock_key(value))))
    # The first write of the transaction: on SQLite it takes the database's write lock, so
    # attempts queue here. Failures out of the window count for nothing and are dropped
    # (an address is personal data, kept no longer than it serves), a bounded batch at a
    # time; rows another attempt is dropping are skipped, not waited for (two attempts
    # dropping the same rows in another order would deadlock).
    stale = (sa.select(LoginFailure.id).where(LoginFailure.at <= since).limit(STALE_BATCH)
             .with_for_update(skip_locked=True))
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.id.in_(stale)))


def check_login_allowed(username: str, address: str) -> None:
    """Count this attempt against the limits, as one step, and record it as a failure
    until the password is found right (committed before the slow password check, so
    parallel attempts see it); 429 while the account or the address has too many recent
    failures."""
    cfg = current_app.config
    window = dt.timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"])
    now = utcnow()
    since = now - window
    _serialize_login_attempts(username, address, since)
    limits = (
        (LoginFailure.username == username, cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
        (LoginFailure.address == address, cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
    )
    for condition, limit in limits:
        count = db.session.execute(
            sa.select(sa.func.count()).where(condition, LoginFailure.at > since)
        ).scalar_one()
        if count >= limit:
            # Only the newest `limit` failures keep the lock; when the oldest of them ages
            # out of the window a new try is allowed.
            nth = db.session.execute(
                sa.select(LoginFailure.at)
                .where(condition, LoginFailure.at > since)
                .order_by(LoginFailure.at.desc())
                .offset(limit - 1)
                .limit(1)
            ).scalar_one()
            minutes = _retry_minutes(nth, window, now)
            raise ApiError(
                429,
                f"Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {minutes} menit.",
                f"Too many failed logins. Try again in {minutes} minutes.",
                retry_after_minutes=minutes,
            )
    db.session.add(LoginFailure(username=username, address=address, at=now))
    db.session.commit()


def login(username: str, password: str, device_name: str) -> tuple[str, User]:
    """Check the password and issue a new device token; returns (token, user)."""
    username = username.strip().lower()
    address = client_address()
    check_login_allowed(username, address)
    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        # The attempt stays recorded as a failure (check_login_allowed).
        raise ApiError(401, "Nama pengguna atau kata sandi salah.",
                       "Wrong username or password.")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # Right: this attempt and the account's earlier failures are forgiven.
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.username == username))
    token = secrets.token_urlsafe(32)
    db.session.add(DeviceToken(user_id=user.id, token_hash=_hash_token(token),
                               device_name=device_name[:120], last_address=address))
    audit.record("login", "user", str(user.id), user=user)
    db.session.commit()
    return token, user


def token_from_request() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


# Reasons a token ended for which the phone must erase its data: it may be lost or in the
# hands of someone who must no longer read it. A logout ends only the session.
WIPE_REASONS = frozenset({"admin", "deactivated"})
REVOKE_REASONS = frozenset({"logout"}) | WIPE_REASONS


def authenticate() -> DeviceToken | None:
    """The live device token of this request; None without a token or with an unknown or
    logged-out one. A token revoked by an admin or by the account's deactivation raises
    `device_revoked` (the phone erases its data); one unused for TOKEN_IDLE_DAYS raises
    `session_expired` (the phone keeps its outbox and asks for a login)."""
    token = token_from_request()
    if not token:
        return None
    device = db.session.execute(
        sa.select(DeviceToken).where(DeviceToken.token_hash == _hash_token(token))
    ).scalar_one_or_none()
    if device is None:
        return None
    # Revocation first: a lost phone found again after months must still erase its data.
    if device.revoked_at is not None:
        if device.revoked_reason in WIPE_REASONS:
            raise ApiError("device_revoked")
        return None
    if not device.user.is_active:
        raise ApiError("device_revoked")
    now = utcnow()
    idle = dt.timedelta(days=current_app.config["TOKEN_IDLE_DAYS"])
    if now - _aware(device.last_used_at) > idle:
        raise ApiError("session_expired")
    if now - _aware(device.last_used_at) > LAST_USED_RESOLUTION:
        device.last_used_at = now
        device.last_address = client_address()
        db.session.commit()
    return device


def locks_itself(view):
    """Mark a writing view that takes the change-sequence lock itself, only when needed
    (the sync: a pull-only round trip must not queue behind every push)."""
    view.locks_itself = True
    return view


def login_required(*roles: str):
    """Decorator: a valid device token, and one of `roles` when given."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            device = authenticate()
            if device is None:
                raise ApiError(401, "Sesi tidak berlaku. Silakan masuk lagi.",
                               "Session not valid. Please log in again.")
            g.device = device
            g.user = device.user
            if roles and device.user.role not in roles:
                raise ApiError(403)
            if request.method not in READ_METHODS and not getattr(view, "locks_itself", False):
                # A write reads the rows it changes only after taking the change-sequence
                # lock: a phone's push that commits meanwhile is then seen, never overwritten
                # from a stale read (the same queue the sync push waits in).
                sequence.lock_writes(db.session)
            return view(*args, **kwargs)

        wrapper.required_roles = roles
        return wrapper

    return decorator


def current_user() -> User:
    return g.user


def revoke_device(device: DeviceToken, reason: str) -> bool:
    """End a device's session for `reason` (REVOKE_REASONS); its push subscription goes with
    it (no more messages to a phone that is logged out). A token ends once: the first
    reason stays. True when this call ended it."""
    if reason not in REVOKE_REASONS:
        raise ValueError(f"unknown revoke reason {reason!r}")
    ended = device.revoked_at is None
    if ended:
        device.revoked_at = utcnow()
        device.revoked_reason = reason
    notifications.remove_subscriptions(db.session,
                                       PushSubscription.device_token_id == device.id)
    return ended


def revoke_all_devices(user: User, reason: str = "admin") -> int:
    """Revoke every live token of the user, each as revoke_device does; returns how many.
    A revoked token never comes back, also when the account is activated again."""
    live = db.session.execute(
        sa.select(DeviceToken).where(DeviceToken.user_id == user.id,
                                     DeviceToken.revoked_at.is_(None))
    ).scalars().all()
    return sum(revoke_device(device, reason) for device in live)
