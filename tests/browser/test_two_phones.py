"""Two officers of one desa change the same visit's notes without signal: after both sync,
both phones show the same value, the conflict review shows the value that lost, and
"Pakai nilai ini" brings it back on both."""

import pytest
from playwright.sync_api import expect

from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import new_visit
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser


def open_notes(page, visit_type):
    """The visit's form at its second step, where the notes are."""
    page.goto("/#/kunjungan")
    page.locator("a.item", has_text=visit_type).first.click()
    page.get_by_role("button", name="Lanjut").click()
    return page.get_by_label("Catatan")


def edit_notes(page, visit_type, text):
    open_notes(page, visit_type).fill(text)
    page.get_by_role("button", name="Simpan", exact=True).click()
    expect(page.locator("#syncbar")).to_contain_text("1 menunggu dikirim")


def test_same_notes_edited_offline_on_two_phones(browser, browser_context_args):
    phones = [browser.new_context(**browser_context_args) for _ in range(2)]
    try:
        a, b = (ctx.new_page() for ctx in phones)
        login(a, "perangkat.uji")
        new_visit(a, "Catatan awal", visit_type="Rapat koordinasi")
        sync_now(a)
        login(b, "perangkat.dua")
        sync_now(b)
        expect(open_notes(b, "Rapat koordinasi")).to_have_value("Catatan awal")
        for page, ctx in ((a, phones[0]), (b, phones[1])):
            wait_controlled(page)
            ctx.set_offline(True)

        edit_notes(a, "Rapat koordinasi", "Dihadiri kepala desa (HP A)")
        edit_notes(b, "Rapat koordinasi", "Dihadiri 20 warga (HP B)")
        for ctx in phones:
            ctx.set_offline(False)
        # A pushes, B pushes (its later edit wins), A pulls the winner and the conflict.
        sync_now(a)
        sync_now(b)
        sync_now(a)
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
    finally:
        for ctx in phones:
            ctx.close()
