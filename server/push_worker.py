"""The push worker: sends the push outbox, and tells the desk of overdue referrals.

Run as its own process (`flask --app server push-worker`, the Procfile's `worker`), so a
slow push service only ever slows this loop, never a request or a sync.

Each round claims due rows in a short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
so workers running side by side take different rows; SQLite has no row locks: run one
worker there), marking them with a claim token and a lease and counting the attempt; then
sends them with no transaction open, and records each outcome only if its claim still
holds. A worker that stops mid-way loses nothing: when the lease runs out the rows are
claimed again. A message the push service refuses for good (404, 410) removes the
subscription; any other failure is retried after a delay doubling each time, and after
PUSH_MAX_ATTEMPTS attempts the row is marked failed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa
from flask import current_app

from . import notify
from .domain import notifications
from .extensions import db
from .models import Notification
from .models import PushOutboxEntry
from .models import PushSubscription
from .models import utcnow

# Rows claimed per round: small enough that a lease covers sending them all.
BATCH = 50
# Sent rows are kept this long (to see what went out), then deleted.
KEEP_SENT = dt.timedelta(days=30)


@dataclass
class Round:
    """What one round did."""

    claimed: int = 0
    sent: int = 0
    gone: int = 0
    retried: int = 0
    failed: int = 0
    lost_claims: int = 0
    errors: list[str] = field(default_factory=list)


def claim(now: dt.datetime, limit: int = BATCH) -> tuple[str, list[dict]]:
    """Claim up to `limit` due rows; returns the claim token and what to send."""
    cfg = current_app.config
    query = (
        sa.select(PushOutboxEntry, Notification, PushSubscription)
        .join(Notification, Notification.id == PushOutboxEntry.notification_id)
        .join(PushSubscription, PushSubscription.id == PushOutboxEntry.subscription_id)
        .where(PushOutboxEntry.status == "pending", PushOutboxEntry.next_attempt_at <= now,
               sa.or_(PushOutboxEntry.claimed_until.is_(None),
                      PushOutboxEntry.claimed_until < now))
        .order_by(PushOutboxEntry.id).limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        # Lock only the outbox rows; a row another worker holds is passed over, not waited for.
        query = query.with_for_update(skip_locked=True, of=PushOutboxEntry)
    token = str(uuid.uuid4())
    lease = dt.timedelta(seconds=cfg["PUSH_LEASE_SECONDS"])
    jobs = []
    for entry, notification, subscription in db.session.execute(query).all():
        entry.claim = token
        entry.claimed_until = now + lease
        entry.attempts += 1
        jobs.append({
            "id": entry.id, "attempts": entry.attempts,
            "subscription_id": subscription.id,
            "subscription": {"endpoint": subscription.endpoint,
                             "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
            "payload": {"id": notification.id, **notification.payload},
        })
    db.session.commit()
    return token, jobs


def _record(job: dict, token: str, outcome: notify.Outcome, now: dt.datetime,
            result: Round) -> None:
    cfg = current_app.config
    entry = db.session.get(PushOutboxEntry, job["id"])
    if entry is None or entry.claim != token:
        # The subscription went meanwhile, or this worker overran its lease and another
        # took the row over: the other's outcome stands.
        result.lost_claims += 1
        return
    entry.claim = None
    entry.claimed_until = None
    if outcome.ok:
        entry.status = "sent"
        entry.sent_at = now
        entry.last_error = ""
        result.sent += 1
    elif outcome.gone:
        notifications.remove_subscriptions(
            db.session, PushSubscription.id == job["subscription_id"])
        result.gone += 1
    else:
        entry.last_error = outcome.error
        if entry.attempts >= cfg["PUSH_MAX_ATTEMPTS"]:
            entry.status = "failed"
            result.failed += 1
        else:
            delay = cfg["PUSH_RETRY_SECONDS"] * 2 ** (entry.attempts - 1)
            entry.next_attempt_at = now + dt.timedelta(seconds=delay)
            result.retried += 1
        result.errors.append(outcome.error)
    db.session.commit()


def send_round(now: dt.datetime | None = None) -> Round:
    """Claim the due rows and send them; returns what happened."""
    now = now or utcnow()
    result = Round()
    cfg = current_app.config
    if not cfg["VAPID_PRIVATE_KEY"]:
        return result
    token, jobs = claim(now)
    result.claimed = len(jobs)
    for job in jobs:
        outcome = notify.send(job["subscription"], job["payload"],
                              private_key=cfg["VAPID_PRIVATE_KEY"], subject=cfg["VAPID_SUBJECT"])
        _record(job, token, outcome, now, result)
    return result


def check_overdue(now: dt.datetime | None = None) -> int:
    """Tell the desk of newly overdue referrals, and drop old sent rows; returns how many
    referrals were told of."""
    now = now or utcnow()
    try:
        told = notifications.notify_overdue(db.session, now)
        db.session.execute(sa.delete(PushOutboxEntry).where(
            PushOutboxEntry.status == "sent", PushOutboxEntry.sent_at < now - KEEP_SENT))
        db.session.commit()
    except sa.exc.IntegrityError:
        # Another worker told the same referrals at the same moment; they are told once.
        db.session.rollback()
        return 0
    return told


def run(stop: threading.Event, *, interval: float, overdue_every: float, log=print) -> None:
    """Send rounds until `stop` is set; check for overdue referrals every `overdue_every`
    seconds. A round that fails (the database went away) is logged and tried again."""
    next_overdue = time.monotonic()
    while not stop.is_set():
        full = False
        try:
            if time.monotonic() >= next_overdue:
                told = check_overdue()
                if told:
                    log(f"overdue referrals told to the desk: {told}")
                next_overdue = time.monotonic() + overdue_every
            result = send_round()
            full = result.claimed == BATCH
            if result.claimed:
                log(f"push: {result.sent} sent, {result.retried} to retry, {result.failed} "
                    f"failed, {result.gone} subscriptions gone")
        except sa.exc.SQLAlchemyError as e:
            db.session.rollback()
            log(f"push worker: database error, retrying: {str(e).splitlines()[0][:200]}")
        finally:
            db.session.remove()
        # A full round means more is waiting: go on at once.
        if not full:
            stop.wait(interval)
