"""The in-app notification list, and overdue referrals told to the desk once per wait."""

import datetime as dt

import pytest
import sqlalchemy as sa

from server import push_worker
from server.domain.common import WIB
from server.extensions import db
from server.models import Notification
from server.models import Referral
from server.models import ReferralEvent
from tests.test_api_referrals import event
from tests.test_push import new_person
from tests.test_push import send_referral

pytestmark = pytest.mark.usefixtures("fast_passwords")


def wib(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=WIB)


def test_the_list_shows_a_users_own_newest_first_and_marks_read(client, make_account):
    officer, desk, other_desk = make_account("officer"), make_account("ltsa"), make_account("ltsa")
    person_id = new_person(client, officer)
    first = send_referral(client, officer, person_id)
    second = send_referral(client, officer, person_id, urgency="darurat")
    assert event(client, desk, first, kind="status", status="diterima").status_code == 201

    def listed(account, query=""):
        response = client.get(f"/api/notifications{query}", headers=account.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    mine = listed(desk)
    assert [(n["kind"], n["referral_id"]) for n in mine["items"]] == [
        ("new_referral", second), ("new_referral", first)]
    assert (mine["total"], mine["unread"]) == (2, 2)
    assert mine["items"][0]["urgent"] is True and mine["items"][0]["read"] is False
    assert mine["items"][0]["url"] == f"/#/rujukan/{second}"
    # Scope: each user sees only their own.
    assert [n["kind"] for n in listed(officer)["items"]] == ["status_changed"]
    assert [n["referral_id"] for n in listed(other_desk)["items"]] == [second, first]
    ids = {n["id"] for n in mine["items"]} | {n["id"] for n in listed(other_desk)["items"]}
    assert not ids & {n["id"] for n in listed(officer)["items"]}
    # Paged.
    page = listed(desk, "?per_page=1&page=2")
    assert [n["referral_id"] for n in page["items"]] == [first] and page["total"] == 2

    older = mine["items"][1]["id"]
    response = client.post("/api/notifications/read", json={"up_to": older}, headers=desk.headers)
    assert response.get_json() == {"unread": 1}
    after = listed(desk)
    assert [n["read"] for n in after["items"]] == [False, True] and after["unread"] == 1
    # Another user's ids are not theirs to mark.
    client.post("/api/notifications/read", json={"up_to": 10**9}, headers=officer.headers)
    assert listed(desk)["unread"] == 1 and listed(other_desk)["unread"] == 2


@pytest.mark.parametrize("body", [{}, {"up_to": "x"}, {"up_to": 0}, {"up_to": 1.5}])
def test_mark_read_names_the_bad_field(client, make_account, body):
    desk = make_account("ltsa")
    response = client.post("/api/notifications/read", json=body, headers=desk.headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and "up_to" in error["fields"]


def test_the_list_needs_a_login(client):
    assert client.get("/api/notifications").status_code == 401


def _set_times(referral_id: str, sent: dt.datetime) -> None:
    # Stored in UTC, as the app stores every time (SQLite would keep the WIB wall time).
    sent = sent.astimezone(dt.UTC)
    db.session.execute(sa.update(Referral).where(Referral.id == referral_id)
                       .values(created_at=sent))
    db.session.execute(sa.update(ReferralEvent).where(ReferralEvent.referral_id == referral_id)
                       .values(created_at=sent))
    db.session.commit()


def overdue_told() -> list[tuple[int, str]]:
    return [tuple(r) for r in db.session.execute(
        sa.select(Notification.user_id, Notification.referral_id)
        .where(Notification.kind == "overdue").order_by(Notification.id))]


def test_an_overdue_referral_is_told_to_the_desk_once(client, app, make_account):
    officer, desk, desk2 = make_account("officer"), make_account("ltsa"), make_account("ltsa")
    sbmi = make_account("partner", organisation_code="sbmi")
    person_id = new_person(client, officer)
    waiting = send_referral(client, officer, person_id)
    acted = send_referral(client, officer, person_id)
    noted = send_referral(client, officer, person_id)
    # Thursday: the desk has Friday and Monday; from Tuesday 00:00 (WIB) it is overdue
    # (server.domain.followup, the rule the desk's list and the phones' mark use too).
    sent = wib("2026-11-26 09:00")
    for referral_id in (waiting, acted, noted):
        _set_times(referral_id, sent)
    assert event(client, desk, acted, kind="status", status="diterima").status_code == 201
    # A note of the desk is an action too.
    assert event(client, desk, noted, kind="note", note="Menunggu dokumen").status_code == 201

    assert push_worker.check_overdue(wib("2026-11-30 23:59")) == 0
    assert overdue_told() == []
    assert push_worker.check_overdue(wib("2026-12-01 00:00")) == 1
    assert overdue_told() == [(desk.user_id, waiting), (desk2.user_id, waiting)]
    assert sbmi.user_id not in [u for u, _ in overdue_told()]
    (row, _) = db.session.execute(sa.select(Notification).where(
        Notification.kind == "overdue")).scalars()
    assert "2 hari kerja" in row.payload["body"] and row.payload["url"].endswith(waiting)
    # Checked again: it is not told twice.
    assert push_worker.check_overdue(wib("2026-12-03 12:00")) == 0
    assert len(overdue_told()) == 2
    # Once the desk acts it is no longer overdue.
    assert event(client, desk, waiting, kind="status", status="diterima").status_code == 201
    assert push_worker.check_overdue(wib("2027-01-30 09:00")) == 0


def test_the_overdue_setting(client, app, make_account):
    app.config.update(REFERRAL_OVERDUE_WORKING_DAYS=5)
    officer, desk = make_account("officer"), make_account("ltsa")
    referral_id = send_referral(client, officer, new_person(client, officer))
    # Monday: five working days end on the next Monday; overdue from Tuesday 00:00.
    _set_times(referral_id, wib("2026-11-23 09:00"))
    assert push_worker.check_overdue(wib("2026-11-30 23:59")) == 0
    assert push_worker.check_overdue(wib("2026-12-01 00:00")) == 1
    assert overdue_told() == [(desk.user_id, referral_id)]
