"""Two officers of one desa change the same visit's notes without signal: after both sync,
both phones show the same value, the conflict review shows the value that lost, and
"Pakai nilai ini" brings it back on both."""

import pytest
from playwright.sync_api import expect

from tests.browser.ui_helpers import notes_in_conflict
from tests.browser.ui_helpers import open_notes
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser


def test_same_notes_edited_offline_on_two_phones(browser, browser_context_args):
    with notes_in_conflict(browser, browser_context_args, "Rapat koordinasi",
                           "Dihadiri kepala desa (HP A)", "Dihadiri 20 warga (HP B)") as (a, b):
        for page in (a, b):
            expect(open_notes(page, "Rapat koordinasi")).to_have_value("Dihadiri 20 warga (HP B)")

        for page in (a, b):
            page.goto("/#/bertabrakan")
            card = page.locator(".conflict")
            expect(card).to_have_count(1)
            expect(card.get_by_role("heading")).to_have_text("Catatan")
            expect(card.locator(".side.kept .value")).to_have_text("Dihadiri 20 warga (HP B)")
            expect(card.locator(".side.lost .value")).to_have_text("Dihadiri kepala desa (HP A)")
            expect(card.locator(".side.kept")).to_contain_text("Uji perangkat.dua")
            expect(card.locator(".side.lost")).to_contain_text("Uji perangkat.uji")
            expect(card.locator(".side.lost")).to_contain_text("WIB")

        a.goto("/#/bertabrakan")
        a.locator(".side.lost").get_by_role("button", name="Pakai nilai ini").click()
        expect(a.get_by_text("Tidak ada perubahan bertabrakan.")).to_be_visible()
        sync_now(a)
        sync_now(b)
        for page in (a, b):
            notes = open_notes(page, "Rapat koordinasi")
            expect(notes).to_have_value("Dihadiri kepala desa (HP A)")
        b.goto("/#/bertabrakan")
        expect(b.get_by_text("Tidak ada perubahan bertabrakan.")).to_be_visible()
