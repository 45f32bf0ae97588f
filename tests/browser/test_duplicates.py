"""Two officers register the same person without signal: after sync the person is marked
"Mungkin data ganda" with the other's name and why; "Gabungkan" asks first, needs signal,
and keeps this person with both histories."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.models import Person
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import register_person
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser

NIK = "3209015403950007"  # a woman born 14 March 1995, registered in Waled


def test_a_person_registered_on_two_phones_is_marked_and_merged(browser, browser_context_args,
                                                                live_server):
    phones = [browser.new_context(**browser_context_args) for _ in range(2)]
    try:
        a, b = (ctx.new_page() for ctx in phones)
        for page, username in ((a, "perangkat.uji"), (b, "perangkat.dua")):
            login(page, username)
            wait_controlled(page)
        for ctx in phones:
            ctx.set_offline(True)
        register_person(a, "Rukmini Ganda", birth_date="1995-03-14", nik=NIK)
        register_person(b, "Rukmini G.", birth_date="1995-03-14", nik=NIK)
        for ctx in phones:
            ctx.set_offline(False)
        sync_now(a)
        sync_now(b)
        sync_now(a)

        a.goto("/#/warga")
        card = a.locator("a.item", has_text="Rukmini Ganda")
        expect(card.locator(".badge.duplicate")).to_have_text("⚠ Mungkin data ganda")
        card.click()
        mark = a.locator("section.duplicate")
        expect(mark).to_contain_text("Mungkin orang yang sama dengan: Rukmini G.")
        expect(mark).to_contain_text("NIK sama.")

        # Without signal: asked first, then told that a merge needs signal; nothing changes.
        phones[0].set_offline(True)
        mark.get_by_role("button", name="Gabungkan").click()
        expect(mark).to_contain_text("Gabungkan ke Rukmini Ganda? Data Rukmini G. diarsipkan")
        mark.get_by_role("button", name="Ya, gabungkan").click()
        expect(mark.get_by_role("alert")).to_contain_text("butuh sinyal")
        phones[0].set_offline(False)

        mark.get_by_role("button", name="Ya, gabungkan").click()
        expect(a.locator("section.duplicate")).to_have_count(0)
        expect(a.locator(".badge.duplicate")).to_have_count(0)
        rows = live_server.query(sa.select(Person.name, Person.archived_at, Person.merged_into_id)
                                 .where(Person.name.startswith("Rukmini G"))
                                 .order_by(Person.name))
        kept_id = live_server.query(sa.select(Person.id).where(Person.name == "Rukmini Ganda"))
        assert [(name, archived is not None, into) for name, archived, into in rows] == [
            ("Rukmini G.", True, kept_id[0][0]), ("Rukmini Ganda", False, None)]

        # The other phone pulls the merge: the person it registered points to the kept one.
        sync_now(b)
        b.goto("/#/warga")
        expect(b.locator("a.item", has_text="Rukmini G.")).to_have_count(0)
        expect(b.locator("a.item", has_text="Rukmini Ganda")).to_be_visible()
    finally:
        for ctx in phones:
            ctx.close()
