"""Dates and ages as Kabupaten Cirebon counts them, for rules and schemas alike."""

from __future__ import annotations

import datetime as dt

from ..extensions import db
from ..models import age_on

# Kabupaten Cirebon keeps WIB (UTC+7) all year: "today" and "in the future" are WIB dates.
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
ADULT_AGE = 18


def today() -> dt.date:
    """Today's date in Kabupaten Cirebon."""
    return dt.datetime.now(WIB).date()


def is_child(birth_date: dt.date | None) -> bool | None:
    """Under 18 today; None when the birth date is unknown."""
    age = age_on(birth_date, today())
    return None if age is None else age < ADULT_AGE


def adults_born_by() -> dt.date:
    """The last birth date of a person who is 18 today: anyone born later is a child."""
    day = today()
    try:
        return day.replace(year=day.year - ADULT_AGE)
    except ValueError:  # 29 February
        return day.replace(year=day.year - ADULT_AGE, day=28)


def changed_fields(row, values: dict) -> set[str]:
    """The names of `values` that differ from the stored row (all of them for a new row)."""
    if row is None:
        return set(values)
    return {name for name, value in values.items() if getattr(row, name) != _comparable(
        getattr(row, name), value)}


def _comparable(stored, value):
    # SQLite gives back naive datetimes (all stored times are UTC); compare like with like.
    if isinstance(stored, dt.datetime) and isinstance(value, dt.datetime):
        if stored.tzinfo is None and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def per_transaction(session, key: str, compute):
    """A value computed once per transaction: reference data that a batch would otherwise
    look up again for each of its records."""
    transaction = db.session().get_transaction()  # session may be the scoped_session
    cached = session.info.get(key)
    if cached is None or cached[0] is not transaction:
        cached = (transaction, compute())
        session.info[key] = cached
    return cached[1]
