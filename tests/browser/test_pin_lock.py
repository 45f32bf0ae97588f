"""The PIN lock of a shared phone: locked, IndexedDB holds no plain word of the data; the PIN
opens it again with the outbox, which then syncs; a wrong PIN is refused, and five in a row
erase the phone's data; a phone with a PIN starts locked."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.accounts import create_user
from server.extensions import db
from server.models import Person
from server.models import User
from tests.browser.conftest import DESA_A
from tests.browser.conftest import PASSWORD
from tests.browser.ui_helpers import IDB_ALL_TEXT
from tests.browser.ui_helpers import IDB_COUNTS
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import register_person
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser

OFFICER = "perangkat.pin"
PIN = "482915"
NAME = "Sulastri Rahasiawati"



@pytest.fixture(scope="module")
def officer(live_server):
    with live_server.app.app_context():
        if not db.session.execute(sa.select(User.id).where(User.username == OFFICER)).first():
            create_user(OFFICER, PASSWORD, "Uji PIN", "officer", desa_code=DESA_A)
            db.session.commit()
        db.session.remove()


def set_pin(page, pin: str = PIN) -> None:
    page.goto("/#/menu")
    page.locator("#pin-open").click()
    page.get_by_label("PIN baru (4–6 angka)").fill(pin)
    page.get_by_label("Ulangi PIN").fill(pin)
    page.get_by_role("button", name="Pasang PIN").click()
    expect(page.get_by_text("PIN terpasang di HP ini.")).to_be_visible()


def lock(page) -> None:
    page.goto("/#/menu")
    page.get_by_role("button", name="Kunci sekarang").click()
    expect(page.get_by_text("Data Jangkau di HP ini terkunci.")).to_be_visible()


def enter_pin(page, pin: str) -> None:
    page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_role("button", name="Buka").click()


def persons_of(live_server, username: str) -> int:
    return len(live_server.query(sa.select(Person.id).join(
        User, User.id == Person.created_by_id).where(User.username == username)))


def test_locked_data_is_sealed_and_the_pin_opens_it_with_its_outbox(context, page,
                                                                     live_server, officer):
    login(page, OFFICER)
    wait_controlled(page)
    set_pin(page)
    context.set_offline(True)
    register_person(page, NAME)
    expect(page.locator("#syncbar")).to_contain_text("menunggu dikirim")
    assert page.evaluate(IDB_COUNTS)["outbox"] >= 2
    assert NAME in page.evaluate(IDB_ALL_TEXT)["records"]

    api_calls = []
    page.on("request", lambda r: "/api/" in r.url and api_calls.append(r.url))
    lock(page)
    stores = page.evaluate(IDB_ALL_TEXT)
    assert not [name for name, text in stores.items() if "Rahasiawati" in text], stores.keys()
    counts = page.evaluate(IDB_COUNTS)
    assert {n: c for n, c in counts.items() if n != "lock"} == dict.fromkeys(
        ["records", "outbox", "refused", "conflicts", "drafts", "meta"], 0)
    assert counts["lock"] == 2  # the key and the sealed data
    # Nothing but the PIN screen: no menu, no sync bar, no data.
    expect(page.locator("#menu-link")).to_be_hidden()
    expect(page.locator("#syncbar")).to_be_hidden()
    expect(page.get_by_text("Setelah 5 kali PIN salah")).to_be_visible()

    # The signal comes back while locked: nothing is sent (the worker's background sync only
    # wakes the page, whose sync does not run while locked, and the outbox is sealed).
    context.set_offline(False)
    enter_pin(page, "000000")
    expect(page.get_by_text("PIN salah. Sisa 4 kali percobaan")).to_be_visible()
    assert "Rahasiawati" not in "".join(page.evaluate(IDB_ALL_TEXT).values())
    assert api_calls == [] and persons_of(live_server, OFFICER) == 0

    enter_pin(page, PIN)
    # Open again where it was locked (the menu), with the shell back, and the outbox syncs.
    expect(page.get_by_role("button", name="Kunci sekarang")).to_be_visible()
    expect(page.locator("#syncbar")).to_contain_text("Semua sudah terkirim")
    assert persons_of(live_server, OFFICER) == 1
    assert page.evaluate(IDB_COUNTS)["outbox"] == 0
    page.goto("/#/warga")
    expect(page.get_by_text(NAME)).to_be_visible()

def test_a_phone_with_a_pin_starts_locked_and_five_wrong_pins_erase_it(page, live_server,
                                                                        officer):
    login(page, OFFICER)
    wait_controlled(page)
    set_pin(page, "1357")
    # Started again without locking first (an app closed, a crash): it locks at once.
    page.reload()
    expect(page.get_by_text("Data Jangkau di HP ini terkunci.")).to_be_visible()
    assert page.evaluate(IDB_COUNTS)["meta"] == 0
    for left in (4, 3, 2, 1):
        enter_pin(page, "2468")
        expect(page.get_by_text(f"PIN salah. Sisa {left} kali percobaan")).to_be_visible()
    enter_pin(page, "2468")
    expect(page.get_by_text("PIN salah 5 kali")).to_be_visible()
    expect(page.get_by_label("Nama pengguna")).to_be_visible()
    assert set(page.evaluate(IDB_COUNTS).values()) == {0}


def test_a_forgotten_pin_erases_the_data_and_asks_for_a_login(page, live_server, officer):
    login(page, OFFICER)
    wait_controlled(page)
    set_pin(page, "97531")
    lock(page)
    page.get_by_role("button", name="Lupa PIN?").click()
    expect(page.get_by_text("termasuk perubahan yang belum terkirim (hilang)")).to_be_visible()
    page.get_by_role("button", name="Ya, hapus dan masuk lagi").click()
    expect(page.get_by_text("Data Jangkau di HP ini sudah dihapus. Silakan masuk lagi."))\
        .to_be_visible()
    assert set(page.evaluate(IDB_COUNTS).values()) == {0}
    login(page, OFFICER)
    # The new login has no PIN until one is set again.
    page.goto("/#/menu")
    expect(page.locator("#pin-open")).to_be_visible()



# Headless Chromium keeps every tab visible, so the page is told it is hidden or seen as a
# phone tells it: the document's visibility, then its 'visibilitychange' event.
SEEN = """(hidden) => {
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(document, 'visibilityState', { configurable: true,
    get: () => (hidden ? 'hidden' : 'visible') });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_the_app_locks_itself_after_five_minutes_out_of_sight(page, live_server, officer):
    page.clock.install()
    login(page, OFFICER)
    wait_controlled(page)
    set_pin(page, "8642")
    # Out of sight for 4 minutes: still open. The clock is moved, never waited for.
    page.evaluate(SEEN, True)
    page.clock.fast_forward("04:00")
    page.evaluate(SEEN, False)
    expect(page.get_by_text("PIN terpasang di HP ini.")).to_be_visible()
    assert page.evaluate(IDB_COUNTS)["meta"] > 0
    # Out of sight for 5 minutes: locked, by the timer while hidden.
    page.evaluate(SEEN, True)
    page.clock.fast_forward("05:01")
    expect(page.get_by_text("Data Jangkau di HP ini terkunci.")).to_be_visible()
    assert page.evaluate(IDB_COUNTS)["meta"] == 0


JANGKAU_CACHES = ("async () => (await caches.keys()).filter((k) => k.startsWith('jangkau-'))")


def test_a_phone_with_a_pin_opens_offline_after_an_update(context, page, live_server, officer):
    """An update installed while online may first run when the app opens without signal: the
    PIN screen (loaded only on a phone with a PIN) must come with the new version."""
    login(page, OFFICER)
    wait_controlled(page)
    set_pin(page, "2580")
    old = page.evaluate(JANGKAU_CACHES)
    target = live_server.pwa_dir / "js" / "hlc.js"
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\nexport const UPDATED_FOR_PIN = true;\n")
        page.evaluate("""async () => {
            const reg = await navigator.serviceWorker.getRegistration();
            await reg.update();
            while (!reg.waiting) await new Promise((r) => setTimeout(r, 50));
        }""")
        # The app is closed; hours later (the browser's HTTP cache, 5 minutes for app files,
        # holds nothing) it opens again without signal, and the new version takes over.
        page.close()
        context.set_offline(True)
        page = context.new_page()
        context.new_cdp_session(page).send("Network.clearBrowserCache")
        page.goto("/")
        page.wait_for_function(f"""async () => {{
            const names = await ({JANGKAU_CACHES})();
            return names.length === 1 && names[0] !== {old[0]!r};
        }}""")
        page.reload()
        expect(page.get_by_text("Data Jangkau di HP ini terkunci.")).to_be_visible()
        enter_pin(page, "2580")
        expect(page.locator("#st-visits")).to_be_visible()
    finally:
        target.write_bytes(original)
        context.set_offline(False)
