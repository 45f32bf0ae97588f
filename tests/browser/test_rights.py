"""An erasure and a withdrawal of consent, made by the LTSA desk on the server, reach a
village official's phone at its next sync: both persons leave its lists and its IndexedDB
(with their referrals, and an edit made offline meanwhile), and the sync screen says why."""

import pytest
from playwright.sync_api import expect

from server.extensions import db
from server.models import Person
from tests.browser.ui_helpers import api_headers
from tests.browser.ui_helpers import api_person
from tests.browser.ui_helpers import api_referral
from tests.browser.ui_helpers import idb_text
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser

ERASED = "Warsih Minta Dihapus"
WITHDRAWN = "Darsem Tarik Persetujuan"
NEW_ADDRESS = "Blok Rahasia Baru"



def test_an_erasure_and_a_withdrawal_leave_the_officials_phone(page, live_server):
    client = live_server.app.test_client()
    officer = api_headers(client, "perangkat.uji")
    erased = api_person(client, officer, ERASED)
    withdrawn = api_person(client, officer, WITHDRAWN)
    referrals = [api_referral(client, officer, person_id, "Minta informasi", "biasa")
                 for person_id in (erased, withdrawn)]

    login(page, "perangkat.uji")
    sync_now(page)
    page.goto("/#/warga")
    for name in (ERASED, WITHDRAWN):
        expect(page.locator("main")).to_contain_text(name)
    held = idb_text(page)
    assert all(record_id in held for record_id in (erased, withdrawn, *referrals))
    # Offline meanwhile, the official corrects one of them: the edit waits on the phone.
    page.context.set_offline(True)
    page.evaluate("""async ([id, address]) => {
        const db = await import('/js/db.js');
        await db.saveEdit('persons', id, { address });
    }""", [withdrawn, NEW_ADDRESS])
    assert NEW_ADDRESS in idb_text(page)

    desk = api_headers(client, "ltsa.uji")
    for person_id, action in ((erased, "erase"), (withdrawn, "withdraw")):
        answer = client.post(f"/api/persons/{person_id}/{action}", headers=desk)
        assert answer.status_code == 200, answer.get_json()

    page.context.set_offline(False)
    sync_now(page)
    notice = page.locator("#sync-removed")
    expect(notice).to_contain_text("1 data warga dihapus dari HP ini atas permintaan warga.")
    expect(notice).to_contain_text(
        "1 data warga dihapus dari HP ini karena persetujuan ditarik.")
    page.goto("/#/warga")
    expect(page.locator("main")).not_to_contain_text(ERASED)
    expect(page.locator("main")).not_to_contain_text(WITHDRAWN)
    page.goto("/#/rujukan")
    expect(page.locator("main")).not_to_contain_text(WITHDRAWN)
    # Nothing of either is left: not the records, nor the edit the server refused.
    held = idb_text(page)
    for text in (erased, withdrawn, *referrals, ERASED, WITHDRAWN, NEW_ADDRESS):
        assert text not in held


def test_the_desk_shows_all_data_and_erases_with_a_confirm_step(page, live_server):
    client = live_server.app.test_client()
    officer = api_headers(client, "perangkat.uji")
    person_id = api_person(client, officer, "Casmini Lihat Data", address="Blok Manis")
    referral_id = api_referral(client, officer, person_id, "Ingin tahu prosedur", "biasa")

    login(page, "ltsa.uji")
    sync_now(page)
    page.goto(f"/#/meja/{referral_id}")
    rights = page.locator("#desk-rights")
    expect(rights).to_contain_text("Hak warga atas datanya")
    page.locator("#rights-data").click()
    expect(page.locator("#title")).to_have_text("Data warga (hak akses)")
    for heading in ("Data pribadi", "Persetujuan", "Rujukan dan riwayatnya",
                    "Siapa membaca atau mengubah data ini"):
        expect(page.locator("main")).to_contain_text(heading)
    expect(page.locator("#data-person")).to_contain_text("Blok Manis")
    expect(page.locator("#data-referrals")).to_contain_text("Ingin tahu prosedur")
    expect(page.locator("#data-print")).to_be_visible()

    page.goto(f"/#/meja/{referral_id}")
    page.locator("#rights-erase").click()
    expect(rights).to_contain_text("Angka di laporan tetap sama")
    page.get_by_role("button", name="Ya, hapus data warga").click()
    expect(page.locator("#toast")).to_contain_text("Data warga dihapus.")
    with live_server.app.app_context():
        person = db.session.get(Person, person_id)
        assert person.erased_at is not None and person.address == ""
        db.session.remove()
