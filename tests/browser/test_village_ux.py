"""The village official's screens, from a walkthrough on a phone: a visit recorded by mistake
is deleted, countries are named, Back steps back in every wizard, the sync bar stays one line,
nothing overflows at 200% zoom, the install hint, conflict review both ways, and the consent
notice's promises (withdrawal, deletion) each with its button."""

import re
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.models import Consent
from server.models import OutreachVisit
from server.models import Person
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import new_visit
from tests.browser.ui_helpers import notes_in_conflict
from tests.browser.ui_helpers import open_notes
from tests.browser.ui_helpers import refer
from tests.browser.ui_helpers import register_person
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser

# A record written on this phone only (offline, so nothing is sent): for screens that show it.
SAVE = """async ([entity, id, fields]) => {
  const db = await import('/js/db.js');
  await db.saveEdit(entity, id, fields);
}"""


def local_person(page, name="Siti Rahayu", country="TW") -> str:
    """A person with consent and a migration plan to `country`, kept on this phone only."""
    person, consent, plan = (str(uuid.uuid4()) for _ in range(3))
    page.evaluate(SAVE, ["persons", person, {
        "name": name, "sex": "P", "birth_date": "1995-03-02", "desa_code": None,
        "lawful_basis": "consent", "migration_status": "calon_pmi", "disability": False}])
    page.evaluate(SAVE, ["consents", consent, {
        "person_id": person, "purposes": ["pendataan"], "method": "lisan",
        "given_at": "2026-11-30T03:00:00Z", "keep_until": "2031-11-30",
        "notice_version": "2024-10"}])
    page.evaluate(SAVE, ["migration_plans", plan, {
        "person_id": person, "destination_country": country, "scheme": "tidak_diketahui",
        "documents": []}])
    return person


def test_countries_are_named_not_coded(context, page):
    login(page, "perangkat.uji")
    wait_controlled(page)
    context.set_offline(True)
    person = local_person(page, country="TW")
    page.goto(f"/#/warga/{person}")
    card = page.locator("section.card", has_text="Negara tujuan")
    expect(card).to_contain_text("Taiwan")
    expect(card.locator("dd", has_text=re.compile(r"^TW$"))).to_have_count(0)


def test_a_visit_recorded_by_mistake_is_deleted_after_a_confirmation(page, live_server):
    login(page, "perangkat.uji")
    new_visit(page, "Tercatat dua kali")
    sync_now(page)
    # Notes are stored encrypted: read them back and choose in Python, not in SQL.
    rows = [row for row in live_server.query(sa.select(
        OutreachVisit.id, OutreachVisit.deleted_hlc, OutreachVisit.notes))
        if row.notes == "Tercatat dua kali"]
    assert len(rows) == 1 and rows[0].deleted_hlc is None
    visit = rows[0].id
    page.goto("/#/kunjungan")
    expect(page.locator(f'a[href="#/kunjungan/{visit}"]')).to_have_count(1)
    page.locator(f'a[href="#/kunjungan/{visit}"]').click()
    page.get_by_role("button", name="Hapus kunjungan ini").click()
    # The confirmation says what happens before anything is deleted.
    expect(page.get_by_text("dari server pada sinkronisasi berikutnya")).to_be_visible()
    page.get_by_role("button", name="Batal").click()
    expect(page.get_by_role("button", name="Ya, hapus kunjungan")).to_have_count(0)
    page.get_by_role("button", name="Hapus kunjungan ini").click()
    page.get_by_role("button", name="Ya, hapus kunjungan").click()
    expect(page).to_have_url(re.compile(r"#/kunjungan$"))
    expect(page.get_by_role("heading", name="Kunjungan penjangkauan")).to_be_visible()
    expect(page.locator(f'a[href="#/kunjungan/{visit}"]')).to_have_count(0)
    sync_now(page)
    deleted = live_server.query(sa.select(OutreachVisit.deleted_hlc)
                                .where(OutreachVisit.id == visit))
    assert deleted[0].deleted_hlc is not None


def test_back_steps_back_in_the_registration_wizard(page):
    # The visit's wizard is walked in test_form_wizard.py; registration uses the same wizard.
    login(page, "perangkat.uji")
    page.goto("/#/warga/baru")
    page.get_by_label("Tanda tangan").check()
    page.get_by_label("Pemberitahuan di atas sudah saya bacakan kepada warga.").check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()
    page.get_by_label("Nama lengkap").fill("Dewi Lestari")
    page.go_back()
    expect(page.get_by_text("Langkah 1 dari 4")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/warga/baru$"))
    expect(page.get_by_label("Tanda tangan")).to_be_checked()
    page.go_forward()
    expect(page.get_by_label("Nama lengkap")).to_have_value("Dewi Lestari")
    page.go_back()
    page.go_back()
    expect(page.locator("#st-visits")).to_be_visible()


def test_back_from_the_referral_form_returns_to_the_person_keeping_the_draft(context, page):
    # The referral is one screen: its one step back is the person's page.
    login(page, "perangkat.uji")
    wait_controlled(page)
    context.set_offline(True)
    person = local_person(page, name="Wulan Sari")
    page.goto(f"/#/warga/{person}")
    page.get_by_role("link", name="Rujuk ke LTSA").click()
    page.get_by_label("Alasan").fill("Ingin tahu syarat kerja di Taiwan")
    page.go_back()
    expect(page).to_have_url(re.compile(f"#/warga/{person}$"))
    page.go_forward()
    expect(page.get_by_label("Alasan")).to_have_value("Ingin tahu syarat kerja di Taiwan")


def test_the_sync_bar_takes_one_line_when_all_is_well(page):
    login(page, "perangkat.uji")
    sync_now(page)
    expect(page.locator("#syncbar")).to_have_class(re.compile(r"\bwell\b"))
    expect(page.locator("#syncbar")).to_contain_text(re.compile(r"Semua sudah terkirim · \d"))
    # Measured in the same moment the bar says all is well (a sync may start again at any time).
    shape = page.wait_for_function("""() => {
      const bar = document.getElementById('syncbar');
      if (!bar.classList.contains('well')) return null;
      return {
        font: parseFloat(getComputedStyle(bar).fontSize),
        height: bar.getBoundingClientRect().height,
        tops: [...bar.children].map((c) => Math.round(c.getBoundingClientRect().top)),
        cut: [...bar.children].some((c) => c.scrollWidth > c.clientWidth),
      };
    }""").json_value()
    assert shape["font"] >= 16
    # One line, and nothing of it cut off (the time of the last sync stays in view).
    assert len(shape["tops"]) == 1 and not shape["cut"], shape
    # One line of text and its padding; the bar keeps its 48 px touch target.
    assert shape["height"] <= 48.5, shape


def test_conflict_review_keeps_either_value_and_says_which_phone(browser,
                                                                   browser_context_args):
    with notes_in_conflict(browser, browser_context_args, "Pemberdayaan",
                           "Pelatihan menjahit (HP A)", "Pelatihan membatik (HP B)") as (a, b):
        # The sync bar says a conflict is open; a tap opens the review.
        bar = a.locator("#syncbar")
        expect(bar).to_contain_text("1 perubahan bertabrakan")
        expect(bar).not_to_have_class(re.compile(r"\bwell\b"))
        bar.click()
        expect(a).to_have_url(re.compile(r"#/bertabrakan$"))
        card = a.locator(".conflict")
        expect(card.locator(".side.kept")).to_contain_text("Uji perangkat.dua, di HP lain")
        expect(card.locator(".side.lost")).to_contain_text("Uji perangkat.uji, di HP ini")
        expect(card.get_by_role("button", name="Pakai nilai ini")).to_have_count(2)

        # Keeping the value in use settles the conflict as well.
        card.locator(".side.kept").get_by_role("button", name="Pakai nilai ini").click()
        expect(a.get_by_text("Tidak ada perubahan bertabrakan.")).to_be_visible()
        sync_now(a)
        expect(bar).not_to_contain_text("bertabrakan")
        expect(open_notes(a, "Pemberdayaan")).to_have_value("Pelatihan membatik (HP B)")
        sync_now(b)
        b.goto("/#/bertabrakan")
        expect(b.get_by_text("Tidak ada perubahan bertabrakan.")).to_be_visible()


def person_id(page) -> str:
    return re.search(r"#/warga/([\w-]{36})", page.url).group(1)


def test_consent_withdrawal_and_deletion_request_have_their_buttons(page, live_server):
    login(page, "perangkat.uji")
    register_person(page, "Ratna Kusuma")
    person = person_id(page)
    sync_now(page)
    page.goto(f"/#/warga/{person}")

    page.get_by_role("button", name="Tarik persetujuan").click()
    expect(page.get_by_text("Penarikan bersifat final")).to_be_visible()
    page.get_by_role("button", name="Ya, tarik persetujuan").click()
    expect(page.locator("dt", has_text="Ditarik")).to_be_visible()
    expect(page.get_by_role("button", name="Tarik persetujuan")).to_have_count(0)
    sync_now(page)
    withdrawn = live_server.query(sa.select(Consent.withdrawn_at)
                                  .where(Consent.person_id == person))
    assert withdrawn and all(row.withdrawn_at is not None for row in withdrawn)

    page.goto(f"/#/warga/{person}")
    page.get_by_role("button", name="Minta hapus data").click()
    # The request says plainly that the phone erases nothing (the LTSA does, on the server),
    # and what happens instead.
    expect(page.get_by_text("dihapus oleh LTSA di server")).to_be_visible()
    page.get_by_role("button", name="Ya, catat permintaan hapus").click()
    expect(page.get_by_text("Data ini belum terhapus dari server")).to_be_visible()
    expect(page.get_by_role("link", name="Rujuk ke LTSA")).to_have_count(0)
    expect(page.get_by_role("button", name="Minta hapus data")).to_have_count(0)
    sync_now(page)
    archived = live_server.query(sa.select(Person.archived_at).where(Person.id == person))
    assert archived[0].archived_at is not None
    page.goto("/#/warga")
    expect(page.get_by_role("heading", name="Daftar warga")).to_be_visible()
    expect(page.locator(f'a[href="#/warga/{person}"]')).to_have_count(0)


# A 360 px wide phone at 200% zoom shows the page 180 CSS px wide.
ZOOMED = {"width": 180, "height": 320}
# On a mobile viewport Chromium widens the layout viewport to fit a page that overflows, so
# innerWidth grows with the overflow: the page is measured against the screen's width.
SIDEWAYS = f"() => document.documentElement.scrollWidth - {ZOOMED['width']}"


def wide_elements(page) -> list:
    """What sticks out to the right, to name it when a screen overflows."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > 180.5)
      .slice(0, 5).map((e) => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`)""")


def sideways(page, screen: str) -> list:
    """[(screen, what sticks out)] when the screen scrolls sideways, else []."""
    expect(page.locator("main > div")).not_to_be_empty()
    page.wait_for_function("() => !document.querySelector('main .loading')")
    return [(screen, wide_elements(page))] if page.evaluate(SIDEWAYS) > 0 else []


def no_sideways_scroll(page, screen: str) -> None:
    assert not sideways(page, screen)


def test_nothing_overflows_sideways_at_200_percent_zoom(page):
    page.set_viewport_size(ZOOMED)
    page.goto("/")
    expect(page.get_by_label("Nama pengguna")).to_be_visible()
    no_sideways_scroll(page, "masuk")
    page.set_viewport_size({"width": 360, "height": 640})
    login(page, "perangkat.uji")
    register_person(page, "Sekar Ayu Wulandari")
    person = person_id(page)
    refer(page, "Ingin tahu syarat kerja")
    referral = re.search(r"#/rujukan/([\w-]{36})", page.url).group(1)
    new_visit(page, "Sosialisasi di balai desa")
    page.set_viewport_size(ZOOMED)
    failures = []
    screens = ["/", "/kunjungan", "/kunjungan/baru", "/warga", f"/warga/{person}",
               "/warga/baru", f"/warga/{person}/ubah", f"/rujuk/{person}", "/rujukan",
               f"/rujukan/{referral}", "/sinkronisasi", "/bertabrakan", "/menu",
               "/pemberitahuan", "/laporan"]
    for screen in screens:
        page.goto(f"/#{screen}")
        failures += sideways(page, screen)
    # The steps of the visit's wizard past the first.
    page.set_viewport_size({"width": 360, "height": 640})
    page.goto("/#/kunjungan/baru")
    page.get_by_label("Sosialisasi", exact=True).check()
    page.get_by_role("button", name="Lanjut").click()
    page.set_viewport_size(ZOOMED)
    failures += sideways(page, "/kunjungan/baru step 2")
    assert not failures, "\n".join(map(str, failures))


# The browser's own install offer is kept from the app, so the test decides when one comes.
HOLD_REAL_INSTALL_OFFER = """window.addEventListener('beforeinstallprompt', (e) => {
  if (e.isTrusted) e.stopImmediatePropagation();
}, true);"""
OFFER_INSTALL = """() => {
  const offer = new Event('beforeinstallprompt', { cancelable: true });
  offer.prompt = async () => { window.installPrompted = true; };
  offer.userChoice = Promise.resolve({ outcome: 'accepted' });
  window.dispatchEvent(offer);
}"""


def test_a_hint_to_install_the_app_dismissible_and_remembered(page):
    page.add_init_script(HOLD_REAL_INSTALL_OFFER)
    login(page, "perangkat.uji")
    hint = page.locator("#install-hint")
    # Without the browser's offer: how to do it from Chrome's menu.
    expect(hint).to_contain_text("Tambahkan ke layar utama")
    hint.get_by_role("button", name="Tutup, jangan tampilkan lagi").click()
    expect(hint).to_be_hidden()
    page.reload()
    expect(page.locator("#st-visits")).to_be_visible()
    expect(hint).to_be_hidden()

    # With the browser's offer: one tap opens its dialog; once installed, no more hint.
    page.evaluate("() => localStorage.removeItem('jangkau.install_hint')")
    page.reload()
    expect(hint).to_contain_text("Tambahkan ke layar utama")
    page.evaluate(OFFER_INSTALL)
    hint.get_by_role("button", name="Pasang aplikasi").click()
    page.wait_for_function("() => window.installPrompted === true")
    expect(hint).to_be_hidden()
    page.reload()
    expect(page.locator("#st-visits")).to_be_visible()
    expect(hint).to_be_hidden()
