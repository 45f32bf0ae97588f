"""An erasure and a withdrawal of consent, made by the LTSA desk on the server, reach a
village official's phone at its next sync: both persons leave its lists and its IndexedDB
(with their referrals), and the sync screen says why."""

import pytest
from playwright.sync_api import expect

from tests.browser.ui_helpers import IDB_RECORDS_TEXT
from tests.browser.ui_helpers import api_headers
from tests.browser.ui_helpers import api_person
from tests.browser.ui_helpers import api_referral
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser

ERASED = "Warsih Minta Dihapus"
WITHDRAWN = "Darsem Tarik Persetujuan"


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
    held = page.evaluate(IDB_RECORDS_TEXT)
    assert all(record_id in held for record_id in (erased, withdrawn, *referrals))

    desk = api_headers(client, "ltsa.uji")
    for person_id, action in ((erased, "erase"), (withdrawn, "withdraw")):
        answer = client.post(f"/api/persons/{person_id}/{action}", headers=desk)
        assert answer.status_code == 200, answer.get_json()

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
    held = page.evaluate(IDB_RECORDS_TEXT)
    for text in (erased, withdrawn, *referrals, ERASED, WITHDRAWN):
        assert text not in held
