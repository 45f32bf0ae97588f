"""A NIK is masked on the phone: after sync IndexedDB holds only the masked NIK; the person's
page shows it masked, "Tampilkan NIK lengkap" shows the full one online (never stored) and
says a signal is needed offline; correcting the person keeps the NIK as it was."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.models import AuditEntry
from server.models import Person
from tests.browser.ui_helpers import idb_text
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import register_person
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser

NIK = "3209016708920013"  # a woman born 27 August 1992, registered in Waled
MASKED = "3209********0013"




def test_the_phone_holds_a_masked_nik_and_shows_the_full_one_online(page, live_server):
    login(page, "perangkat.uji")
    wait_controlled(page)
    register_person(page, "Nining Samaran", birth_date="1992-08-27", nik=NIK)
    person_id = page.url.rsplit("/", 1)[-1]
    sync_now(page)
    stored = idb_text(page)
    assert NIK not in stored and MASKED in stored

    page.goto(f"/#/warga/{person_id}")
    shown = page.locator(".nik")
    expect(shown).to_have_text(MASKED)
    reveal = page.get_by_role("button", name="Tampilkan NIK lengkap")

    page.context.set_offline(True)
    reveal.click()
    expect(page.get_by_text("Perlu sinyal untuk menampilkan NIK lengkap.")).to_be_visible()
    expect(shown).to_have_text(MASKED)
    page.context.set_offline(False)

    reveal.click()
    expect(shown).to_have_text(NIK)
    expect(reveal).to_have_count(0)
    assert NIK not in idb_text(page)
    reveals = live_server.query(sa.select(AuditEntry.entity_id).where(
        AuditEntry.action == "reveal_nik"))
    assert [row[0] for row in reveals] == [person_id]

    # Correcting the phone number: the masked NIK in the form means "unchanged".
    page.goto(f"/#/warga/{person_id}/ubah")
    nik_input = page.get_by_label("NIK (boleh dikosongkan)")
    expect(nik_input).to_have_value(MASKED)
    page.get_by_label("Nomor HP (boleh dikosongkan)").fill("0813 1111 2222")
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_role("button", name="Simpan", exact=True).click()
    expect(page.get_by_text("+6281311112222")).to_be_visible()
    sync_now(page)
    rows = live_server.query(sa.select(Person.nik, Person.phone).where(Person.id == person_id))
    assert rows == [(NIK, "+6281311112222")]
    page.goto(f"/#/warga/{person_id}")
    expect(page.locator(".nik")).to_have_text(MASKED)
    assert NIK not in idb_text(page)
