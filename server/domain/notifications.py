"""Who is told what about a referral: the in-app notification list and the push outbox.

Called from the referral policies' after-write hooks (server/domain/referrals.py), so a
change made online and one pushed by a phone notify alike, in the transaction of the
change: one `Notification` per recipient, and one `PushOutboxEntry` per recipient's push
subscription, which the push worker (server/push_worker.py) sends later. Nothing here
waits for a push service.

A notification says what happened, how many, and in which desa, with the referral to open;
never a person's name, NIK, phone, address or notes (the app shows those after opening,
to whoever may read them).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from sync import engine

from .. import scopes
from ..enums import REFERRAL_STATUSES
from ..models import Notification
from ..models import Organisation
from ..models import PushOutboxEntry
from ..models import PushSubscription
from ..models import Referral
from ..models import ReferralEvent
from ..models import Region
from ..models import User
from ..models import utcnow
from . import followup
from .common import per_transaction

NEW_REFERRAL = "new_referral"
FORWARDED = "forwarded"
STATUS_CHANGED = "status_changed"
OVERDUE = "overdue"


def referral_url(referral_id: str) -> str:
    """Where a click on the notification goes: the app's page of the referral."""
    return f"/#/rujukan/{referral_id}"


def _place(session, referral: Referral) -> tuple[str, str]:
    # Regions are reference data: each looked up once per transaction (the identity map
    # holds unchanged rows only weakly, and a batch notifies of many referrals).
    names = per_transaction(session, "jangkau_place_names", dict)
    if referral.desa_code not in names:
        desa = session.get(Region, referral.desa_code)
        kecamatan = session.get(Region, desa.parent_code) if desa and desa.parent_code else None
        names[referral.desa_code] = ((desa.name if desa else referral.desa_code),
                                     (kecamatan.name if kecamatan else ""))
    return names[referral.desa_code]


def _payload(session, kind: str, referral: Referral, title: tuple[str, str],
             body: tuple[str, str], count: int = 1) -> dict:
    desa, kecamatan = _place(session, referral)
    return {"kind": kind, "title": title[0], "body": body[0],
            "en": {"title": title[1], "body": body[1]},
            "count": count, "desa": desa, "kecamatan": kecamatan,
            "urgent": referral.urgency == "darurat", "child": bool(referral.is_child),
            "referral_id": referral.id, "url": referral_url(referral.id)}


def _marks(referral: Referral) -> tuple[str, str]:
    """The title's marks of an urgent or a child's referral."""
    marks_id, marks_en = [], []
    if referral.urgency == "darurat":
        marks_id.append("DARURAT")
        marks_en.append("URGENT")
    if referral.is_child:
        marks_id.append("anak")
        marks_en.append("child")
    if not marks_id:
        return "", ""
    return " · " + ", ".join(marks_id), " · " + ", ".join(marks_en)


def _readers(session, referral: Referral, users) -> list[User]:
    """The active users among `users` who may read the referral: nobody is told of a
    referral they cannot open."""
    found = []
    for user in users:
        if not user.is_active:
            continue
        clause = scopes.referrals_readable(user)
        if isinstance(clause, sa.sql.elements.True_):
            # Reads every referral (the desk): no query needed, once per referral of a batch.
            found.append(user)
            continue
        visible = session.execute(
            sa.select(Referral.id).where(Referral.id == referral.id, clause)
        ).first()
        if visible is not None:
            found.append(user)
    return found


def _desk(session) -> list[User]:
    """The LTSA staff, looked up once per transaction (a phone's batch may send many)."""
    return per_transaction(session, "jangkau_desk_users", lambda: list(session.execute(
        sa.select(User).where(User.role == "ltsa", User.is_active).order_by(User.id)
    ).scalars()))


def notify(session, users, kind: str, referral: Referral, payload: dict, *,
           actor_id: int | None = None, dedupe_key: str | None = None) -> list[Notification]:
    """One notification per recipient who may read the referral (not the one who made the
    change), and one outbox row per recipient's push subscription."""
    made = []
    for user in _readers(session, referral, users):
        if user.id == actor_id:
            continue
        made.append(Notification(user_id=user.id, kind=kind, referral_id=referral.id,
                                 payload=payload, dedupe_key=dedupe_key))
    if not made:
        return made
    batch = engine.BatchRows.current(session)
    if batch is None:
        session.add_all(made)
        _queue_pushes(session, made)
        return made
    # In a push batch: all its notifications at its end, once its records are written (a
    # flush orders no notification after its referral), then their outbox rows.
    waiting = batch.cache.setdefault("jangkau_notifications", [])
    waiting.extend(made)
    batch.defer("jangkau_notifications", lambda: _add_at_end(session, waiting))
    return made


def _add_at_end(session, waiting: list[Notification]) -> None:
    session.flush()
    # Of a referral undone since (a mutation that failed), none.
    kept = [n for n in waiting if engine.get_row(session, Referral, n.referral_id) is not None]
    session.add_all(kept)
    _queue_pushes(session, kept)


def _queue_pushes(session, made: list[Notification]) -> None:
    """One outbox row per notification and push subscription of its recipient."""
    if not made:
        return
    session.flush()  # the notifications' ids
    subscriptions = session.execute(
        sa.select(PushSubscription.id, PushSubscription.user_id)
        .where(PushSubscription.user_id.in_({n.user_id for n in made}))
    ).all()
    by_user: dict[int, list[int]] = {}
    for subscription_id, user_id in subscriptions:
        by_user.setdefault(user_id, []).append(subscription_id)
    rows = [{"notification_id": notification.id, "subscription_id": subscription_id}
            for notification in made for subscription_id in by_user.get(notification.user_id, ())]
    if rows:
        # One statement for all: nothing in this transaction reads them back (the ORM would
        # insert them one by one, to learn each new id).
        session.execute(sa.insert(PushOutboxEntry), rows)


def referral_sent(session, user, referral: Referral) -> None:
    """A new referral: the desk (LTSA staff) is told; urgent and child ones are marked."""
    desa, kecamatan = _place(session, referral)
    mark_id, mark_en = _marks(referral)
    payload = _payload(
        session, NEW_REFERRAL, referral,
        (f"Rujukan baru{mark_id}", f"New referral{mark_en}"),
        (f"1 rujukan baru dari {desa}, Kec. {kecamatan}.",
         f"1 new referral from {desa}, {kecamatan} district."))
    notify(session, _desk(session), NEW_REFERRAL, referral, payload, actor_id=user.id)


def event_applied(session, user, referral: Referral, event: ReferralEvent) -> None:
    """A status event that took effect: a forward tells the partner's staff, and every
    change tells the official who made the referral."""
    if event.kind != "status" or event.flagged or event.status == "terkirim":
        return
    desa, _ = _place(session, referral)
    mark_id, mark_en = _marks(referral)
    if event.status == "dirujuk_lanjut" and event.organisation_id is not None:
        organisation = session.get(Organisation, event.organisation_id)
        partners = session.execute(
            sa.select(User).where(User.organisation_id == event.organisation_id,
                                  User.role == "partner", User.is_active).order_by(User.id)
        ).scalars()
        payload = _payload(
            session, FORWARDED, referral,
            (f"Rujukan diteruskan kepada Anda{mark_id}", f"Referral forwarded to you{mark_en}"),
            (f"1 rujukan dari {desa} diteruskan ke {organisation.name}.",
             f"1 referral from {desa} forwarded to {organisation.name}."))
        notify(session, partners, FORWARDED, referral, payload, actor_id=user.id)
    if referral.created_by_id is None:
        return
    label_id, label_en = REFERRAL_STATUSES.get(event.status, (event.status, event.status))
    creator = session.get(User, referral.created_by_id)
    payload = _payload(
        session, STATUS_CHANGED, referral,
        ("Status rujukan berubah", "Referral status changed"),
        (f"1 rujukan dari {desa}: {label_id}.", f"1 referral from {desa}: {label_en}."))
    notify(session, [creator], STATUS_CHANGED, referral, payload, actor_id=user.id)


# Overdue referrals --------------------------------------------------------------------------

def overdue_referrals(session, now: dt.datetime | None = None) -> list[Referral]:
    """The referrals overdue at `now` (server.domain.followup: no action of the desk or a
    partner within REFERRAL_OVERDUE_WORKING_DAYS working days)."""
    return list(session.execute(
        sa.select(Referral).where(followup.overdue_clause(now)).order_by(Referral.created_at)
    ).scalars())


def notify_overdue(session, now: dt.datetime | None = None) -> int:
    """Tell the desk of each overdue referral, once; returns how many referrals
    were newly told. The caller commits (the unique dedupe key stops a second worker that
    ran the same check at once: its commit fails and it tells no one twice)."""
    days = followup.overdue_working_days()
    told = 0
    desk = _desk(session)
    for referral in overdue_referrals(session, now):
        # A referral is overdue once: the desk's first action ends it for good.
        key = f"overdue:{referral.id}"
        done = session.execute(
            sa.select(Notification.id).where(Notification.dedupe_key == key).limit(1)
        ).first()
        if done is not None:
            continue
        desa, kecamatan = _place(session, referral)
        mark_id, mark_en = _marks(referral)
        payload = _payload(
            session, OVERDUE, referral,
            (f"Rujukan belum ditindaklanjuti{mark_id}", f"Referral not acted on{mark_en}"),
            (f"1 rujukan dari {desa}, Kec. {kecamatan} menunggu lebih dari {days} hari kerja.",
             f"1 referral from {desa}, {kecamatan} district, has waited over {days} "
             "working days."))
        if notify(session, desk, OVERDUE, referral, payload, dedupe_key=key):
            told += 1
    return told


def unread_count(session, user_id: int) -> int:
    return session.execute(
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    ).scalar_one()


def mark_read(session, user_id: int, up_to: int) -> int:
    """Mark the user's notifications up to id `up_to` read; returns how many changed."""
    result = session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user_id, Notification.id <= up_to,
               Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return result.rowcount or 0


# Subscriptions ------------------------------------------------------------------------------

def remove_subscriptions(session, where) -> int:
    """Delete the push subscriptions matching `where` and their unsent messages (logout,
    a revoked device, a push service saying the subscription is gone); returns how many."""
    ids = list(session.execute(sa.select(PushSubscription.id).where(where)).scalars())
    if not ids:
        return 0
    session.execute(sa.delete(PushOutboxEntry).where(PushOutboxEntry.subscription_id.in_(ids)))
    session.execute(sa.delete(PushSubscription).where(PushSubscription.id.in_(ids)))
    return len(ids)
