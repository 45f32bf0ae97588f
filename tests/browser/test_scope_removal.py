"""A person moved to another desa leaves the old desa's phones at their next sync, with the
consent and plan that go with the person, and the sync screen says so."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.extensions import db
from server.models import Person
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import register_person
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser

DESA_B = "32.09.02.2008"


def test_a_person_moved_away_is_removed_and_the_phone_says_why(page, live_server):
    login(page, "perangkat.dua")
    register_person(page, "Warsini Pindah Desa")
    sync_now(page)
    page.goto("/#/warga")
    expect(page.locator("main")).to_contain_text("Warsini Pindah Desa")

    # The move, as an admin's edit: a write of the server, which records the exits.
    with live_server.app.app_context():
        person = db.session.execute(
            sa.select(Person).where(Person.name == "Warsini Pindah Desa")).scalar_one()
        person.desa_code = DESA_B
        db.session.commit()
        db.session.remove()

    sync_now(page)
    notice = page.locator("#sync-removed")
    expect(notice).to_contain_text(
        "3 data dihapus dari HP ini karena tidak lagi dalam wilayah Anda.")
    page.goto("/#/warga")
    expect(page.locator("main")).not_to_contain_text("Warsini Pindah Desa")
    page.goto("/#/sinkronisasi")
    page.get_by_role("button", name="Mengerti").click()
    expect(page.locator("#sync-removed")).to_have_count(0)
