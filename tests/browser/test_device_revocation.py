"""A lost phone revoked by an admin erases itself at its next contact: its IndexedDB, its
pending edit (never sent), and says why on the login screen; logging in again downloads
afresh. The admin revokes one device from the admin screen, asked twice."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.accounts import create_user
from server.extensions import db
from server.models import DeviceToken
from server.models import OutreachVisit
from server.models import User
from tests.browser.conftest import DESA_A
from tests.browser.conftest import PASSWORD
from tests.browser.ui_helpers import IDB_COUNTS
from tests.browser.ui_helpers import IDB_RECORDS_TEXT
from tests.browser.ui_helpers import api_headers
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import new_visit
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser

OFFICER = "perangkat.hilang"
ADMIN = "admin.cabut"
REVOKED = "Akses HP ini sudah dicabut oleh admin"


@pytest.fixture(scope="module")
def accounts(live_server):
    """An officer whose phone gets lost, and an admin."""
    with live_server.app.app_context():
        have = set(db.session.execute(sa.select(User.username)).scalars())
        if OFFICER not in have:
            create_user(OFFICER, PASSWORD, "Uji HP Hilang", "officer", desa_code=DESA_A)
        if ADMIN not in have:
            create_user(ADMIN, PASSWORD, "Uji Admin Cabut", "admin")
        db.session.commit()
        db.session.remove()


def newest_device(live_server, username: str, name: str | None = None) -> tuple[int, int]:
    """(user id, device id) of the account's newest token (of that device name)."""
    select = sa.select(User.id, DeviceToken.id).join(
        DeviceToken, DeviceToken.user_id == User.id).where(User.username == username)
    if name is not None:
        select = select.where(DeviceToken.device_name == name)
    return live_server.query(select.order_by(DeviceToken.id.desc()).limit(1))[0]


def visits_of(live_server, username: str) -> int:
    return len(live_server.query(sa.select(OutreachVisit.id).join(
        User, User.id == OutreachVisit.created_by_id).where(User.username == username)))


def test_a_revoked_phone_erases_itself_at_its_next_sync(page, live_server, accounts):
    login(page, OFFICER)
    new_visit(page, "Kunjungan yang sudah terkirim")
    sync_now(page)
    assert visits_of(live_server, OFFICER) == 1
    assert page.evaluate(IDB_COUNTS)["records"] >= 1

    # The admin revokes this phone through the API while it holds data.
    user_id, device_id = newest_device(live_server, OFFICER)
    client = live_server.app.test_client()
    response = client.post(f"/api/admin/users/{user_id}/devices/{device_id}/revoke",
                           headers=api_headers(client, ADMIN))
    assert response.status_code == 200, response.get_json()

    # An edit made afterwards: its sync meets the revocation, and the phone erases itself.
    new_visit(page, "Kunjungan yang belum terkirim")
    expect(page.get_by_text(REVOKED)).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/masuk$"))
    expect(page.get_by_label("Nama pengguna")).to_have_value("")
    counts = page.evaluate(IDB_COUNTS)
    assert set(counts.values()) == {0}, counts
    assert page.evaluate("() => localStorage.getItem('jangkau.push')") is None
    # The pending edit was never sent: a revoked phone's outbox is not trusted.
    assert visits_of(live_server, OFFICER) == 1
    # The app itself still opens (its files stay cached) and a new login works.
    caches = page.evaluate("async () => caches.keys()")
    assert caches and all(name.startswith("jangkau-") for name in caches)

    page.get_by_label("Nama pengguna").fill(OFFICER)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.locator("#st-visits")).to_be_visible()
    # Downloaded afresh: what reached the server is back on the phone, nothing else.
    sync_now(page)
    records = page.evaluate(IDB_RECORDS_TEXT)
    assert "Kunjungan yang sudah terkirim" in records
    assert "Kunjungan yang belum terkirim" not in records
    assert page.evaluate(IDB_COUNTS)["outbox"] == 0


def test_the_admin_revokes_one_phone_asked_twice(page, live_server, accounts):
    client = live_server.app.test_client()
    lost = client.post("/api/auth/login", json={
        "username": OFFICER, "password": PASSWORD, "device_name": "HP Samsung hilang"})
    lost_headers = {"Authorization": f"Bearer {lost.get_json()['token']}"}
    kept = api_headers(client, OFFICER)
    _, device_id = newest_device(live_server, OFFICER, "HP Samsung hilang")

    login(page, ADMIN)
    page.goto("/#/admin")
    row = page.locator(f'li[data-username="{OFFICER}"]')
    row.get_by_role("button", name="Kelola").click()
    device = row.locator(f'li.device[data-device="{device_id}"]')
    expect(device).to_contain_text("HP Samsung hilang")
    expect(device).to_contain_text("terakhir dipakai")
    device.get_by_role("button", name="Cabut akses HP ini").click()
    expect(device).to_contain_text("termasuk perubahan yang belum terkirim")
    device.get_by_role("button", name="Ya, cabut akses").click()
    expect(row.locator(f'li.device[data-device="{device_id}"]')).to_contain_text("Dicabut admin")
    expect(row).to_contain_text("Akses HP dicabut.")

    answer = client.get("/api/me", headers=lost_headers)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (401, "device_revoked")
    assert client.get("/api/me", headers=kept).status_code == 200
