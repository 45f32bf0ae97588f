"""Follow-up: the working days the desk has to act on a referral, and the overdue flag."""

import datetime as dt

import pytest

from server.domain import followup
from server.domain.common import WIB

# Monday 2026-11-30 to Sunday 2026-12-06.
MON, TUE, WED, THU, FRI, SAT, SUN = (dt.date(2026, 11, 30) + dt.timedelta(days=n)
                                     for n in range(7))
NEXT_MON, NEXT_TUE, NEXT_WED = (dt.date(2026, 12, 7) + dt.timedelta(days=n) for n in range(3))


def wib(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), WIB).astimezone(dt.UTC)


@pytest.mark.parametrize(("day", "days", "expected"), [
    (MON, 2, WED), (THU, 2, NEXT_MON), (FRI, 2, NEXT_TUE), (SAT, 2, NEXT_TUE),
    (SUN, 2, NEXT_TUE), (FRI, 1, NEXT_MON), (MON, 0, MON), (WED, 5, NEXT_WED),
])
def test_add_working_days_skips_weekends(day, days, expected):
    assert followup.add_working_days(day, days) == expected


@pytest.mark.parametrize(("sent", "now", "overdue"), [
    # Sent on Monday: two working days, Tuesday and Wednesday; overdue from Thursday.
    (wib(MON), wib(WED, 23), False),
    (wib(MON), wib(THU, 0), True),
    # Sent late on Monday (WIB) is still Monday, though it is Monday afternoon in UTC.
    (wib(MON, 23), wib(WED, 23), False),
    # Sent on Friday or over the weekend: Monday and Tuesday; overdue from Wednesday.
    (wib(FRI), wib(NEXT_TUE, 23), False),
    (wib(FRI), wib(NEXT_WED, 1), True),
    (wib(SAT), wib(NEXT_TUE, 12), False),
    (wib(SUN), wib(NEXT_WED, 1), True),
])
def test_overdue_after_the_due_date(sent, now, overdue):
    cutoff = followup.overdue_cutoff(now, 2)
    assert (sent < cutoff) is overdue
    # The cutoff and the due date tell the same.
    assert (now.astimezone(WIB).date() > followup.due_date(sent, 2)) is overdue
