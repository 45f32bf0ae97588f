"""Follow-up of referrals: the working days the LTSA desk has to act on a new referral.

A referral is overdue when LTSA or partner staff have not acted on it (no status change and
no note: the referral's `first_action_at`) by the end of the Nth working day after the day
it reached the server, N being the setting REFERRAL_OVERDUE_WORKING_DAYS (default 2).
Working days are Monday to Friday in WIB; public holidays are not known here and count as
working days.
Sent on Monday, it is overdue from Thursday 00:00 WIB; sent on Friday or over the weekend,
from Wednesday. The same functions serve the referral lists and the reminders.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app

from ..models import Referral
from .common import WIB

DEFAULT_OVERDUE_WORKING_DAYS = 2
# Statuses in which the desk still owes the first action: a withdrawn referral owes nothing.
WAITING_STATUSES = ("terkirim",)


def overdue_working_days() -> int:
    return int(current_app.config.get("REFERRAL_OVERDUE_WORKING_DAYS",
                                      DEFAULT_OVERDUE_WORKING_DAYS))


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5


def add_working_days(day: dt.date, days: int) -> dt.date:
    """The `days`-th working day after `day` (`day` itself never counts)."""
    while days > 0:
        day += dt.timedelta(days=1)
        days -= is_working_day(day)
    return day


def due_date(sent_at: dt.datetime, days: int | None = None) -> dt.date:
    """The last day (WIB) on which the desk's first action is on time."""
    days = overdue_working_days() if days is None else days
    return add_working_days(_wib(sent_at).date(), days)


def overdue_cutoff(now: dt.datetime | None = None, days: int | None = None) -> dt.datetime:
    """The moment (UTC) before which a referral must have reached the server to be overdue
    at `now`: the start (WIB) of the `days`-th working day before today. A referral that
    arrived before it has had at least `days` whole working days."""
    days = overdue_working_days() if days is None else days
    day = _wib(now or dt.datetime.now(dt.UTC)).date()
    while days > 0:
        day -= dt.timedelta(days=1)
        days -= is_working_day(day)
    return dt.datetime.combine(day, dt.time(), WIB).astimezone(dt.UTC)


def is_overdue(referral: Referral, now: dt.datetime | None = None,
               days: int | None = None) -> bool:
    """The desk has not acted on the referral and its due date has passed."""
    if referral.first_action_at is not None or referral.status not in WAITING_STATUSES:
        return False
    return _wib(referral.created_at) < overdue_cutoff(now, days)


def overdue_clause(now: dt.datetime | None = None, days: int | None = None):
    """is_overdue as a WHERE clause on referrals."""
    return sa.and_(Referral.first_action_at.is_(None),
                   Referral.status.in_(WAITING_STATUSES),
                   Referral.created_at < overdue_cutoff(now, days))


def _wib(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(WIB)
