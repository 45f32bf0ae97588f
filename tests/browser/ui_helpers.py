"""Steps the screen tests share: log in through the form, wait for sync, read IndexedDB."""

import re
from contextlib import contextmanager

from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.browser.conftest import DESA_A
from tests.browser.conftest import PASSWORD

# Counts of every object store of the app's IndexedDB (only call once the app opened it).
IDB_COUNTS = """() => new Promise((resolve, reject) => {
  let stage = 'open';
  const timer = setTimeout(() => reject(new Error(`IndexedDB stuck at ${stage}`)), 15000);
  indexedDB.databases().then((all) => {
  if (!all.some((d) => d.name === 'jangkau')) { clearTimeout(timer); resolve({}); return; }
  const req = indexedDB.open('jangkau');
  req.onerror = () => reject(req.error);
  req.onblocked = () => { stage = 'open blocked'; };
  req.onsuccess = () => {
    const db = req.result;
    const names = [...db.objectStoreNames];
    stage = `count of ${names.length} stores (version ${db.version})`;
    const tx = db.transaction(names);
    tx.onabort = () => { stage = `aborted: ${tx.error}`; };
    const out = {};
    let left = names.length;
    for (const name of names) {
      const count = tx.objectStore(name).count();
      count.onsuccess = () => {
        out[name] = count.result;
        if (--left === 0) { clearTimeout(timer); db.close(); resolve(out); }
      };
    }
  };
  }, reject);
})"""

# Every value of every store as text, bytes (a sealed snapshot) read as Latin-1 too, so
# the name is found wherever and however it is stored in the clear.
IDB_ALL_TEXT = """() => new Promise((resolve, reject) => {
  const text = (value) => JSON.stringify(value, (key, v) => {
    if (v instanceof ArrayBuffer) v = new Uint8Array(v);
    if (ArrayBuffer.isView(v)) {
      // In slices: spreading a whole sealed snapshot into one call overflows the stack.
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      let out = '';
      for (let i = 0; i < bytes.length; i += 8192) {
        out += String.fromCharCode(...bytes.subarray(i, i + 8192));
      }
      return out;
    }
    return v;
  });
  let stage = 'open';
  const timer = setTimeout(() => reject(new Error(`IndexedDB stuck at ${stage}`)), 15000);
  indexedDB.databases().then((all) => {
  if (!all.some((d) => d.name === 'jangkau')) { clearTimeout(timer); resolve({}); return; }
  const req = indexedDB.open('jangkau');
  req.onerror = () => reject(req.error);
  req.onblocked = () => { stage = 'open blocked'; };
  req.onsuccess = () => {
    const db = req.result;
    const names = [...db.objectStoreNames];
    stage = `reading ${names.length} stores (version ${db.version})`;
    const tx = db.transaction(names);
    tx.onabort = () => { stage = `aborted: ${tx.error}`; };
    const out = {};
    let left = names.length;
    for (const name of names) {
      const all = tx.objectStore(name).getAll();
      all.onsuccess = () => {
        out[name] = text(all.result);
        if (--left === 0) { clearTimeout(timer); db.close(); resolve(out); }
      };
    }
  };
  }, reject);
})"""


def idb_text(page) -> str:
    """Every value of every store of the app's IndexedDB, as one text."""
    return "".join(page.evaluate(IDB_ALL_TEXT).values())


# Every value of the records store, as JSON text: to look for a name anywhere in it.
IDB_RECORDS_TEXT = """() => new Promise((resolve, reject) => {
  const req = indexedDB.open('jangkau');
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const db = req.result;
    const all = db.transaction(['records', 'drafts', 'outbox']).objectStore('records').getAll();
    all.onsuccess = () => { db.close(); resolve(JSON.stringify(all.result)); };
  };
})"""


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the Masuk form and wait for the home screen."""
    page.goto("/")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    expect(page.locator("#st-visits")).to_be_visible()


def wait_controlled(page: Page) -> None:
    """After logging in: wait until the service worker controls the page and the user's
    screens are kept for offline use (then offline reloads and forms work)."""
    # A function, not an expression: an expression is eval'd, which the app's CSP refuses.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    expect(page.locator("html")).to_have_attribute("data-offline", "ready")


def sync_now(page: Page) -> None:
    """Open the sync details, tap Sinkronkan sekarang, wait until nothing waits."""
    page.goto("/#/sinkronisasi")
    page.get_by_role("button", name="Sinkronkan sekarang").click()
    expect(page.locator("#syncbar")).to_contain_text("Semua sudah terkirim")
    expect(page.locator("#syncbar")).not_to_contain_text("Sedang sinkronisasi")


def new_visit(page: Page, notes: str, visit_type: str = "Sosialisasi") -> None:
    """Fill and save a new visit through its two steps."""
    page.goto("/#/kunjungan/baru")
    page.get_by_label(visit_type, exact=True).check()
    page.get_by_label("Dusun/blok").fill("Dusun Kidul")
    page.get_by_label("RT", exact=True).fill("3")
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_label("Jaminan sosial").check()
    page.get_by_role("button", name="Tambah Perempuan").click()
    page.get_by_role("textbox", name="Laki-laki").fill("4")
    page.get_by_label("Catatan").fill(notes)
    page.get_by_role("button", name="Simpan", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/kunjungan$"))


def accept_consent(page: Page) -> None:
    """The consent step as an officer: purpose, method, the notice read."""
    page.goto("/#/warga/baru")
    expect(page.get_by_text("Langkah 1 dari 4")).to_be_visible()
    page.get_by_label("Rujukan ke LTSA").check()
    page.get_by_label("Centang di layar").check()
    page.get_by_label("Pemberitahuan di atas sudah saya bacakan kepada warga.").check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()


def register_person(page: Page, name: str, birth_date: str = "1995-03-14",
                    nik: str = "") -> None:
    """Register an adult through all four steps; ends on the person's page."""
    accept_consent(page)
    page.get_by_label("Nama lengkap").fill(name)
    page.get_by_label("Perempuan", exact=True).check()
    page.get_by_label("Tanggal lahir").fill(birth_date)
    if nik:
        page.get_by_label("NIK (boleh dikosongkan)").fill(nik)
    page.get_by_label("Nomor HP (boleh dikosongkan)").fill("0812 3456 7890")
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 3 dari 4")).to_be_visible()
    page.get_by_label("CPMI", exact=True).check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 4 dari 4")).to_be_visible()
    page.get_by_label("Taiwan").check()
    page.get_by_role("button", name="Simpan", exact=True).click()
    expect(page.get_by_role("link", name="Rujuk ke LTSA")).to_be_visible()


def refer(page: Page, reason: str) -> None:
    """From a person's page: Rujuk ke LTSA, one service, urgency segera, Kirim rujukan."""
    page.get_by_role("link", name="Rujuk ke LTSA").click()
    page.get_by_label("Informasi migrasi aman").check()
    page.get_by_label("Segera").check()
    page.get_by_label("Alasan rujukan").fill(reason)
    page.get_by_role("button", name="Kirim rujukan").click()
    expect(page.get_by_role("heading", name="Riwayat")).to_be_visible()


# Web push in the browser (headless Chromium has no push service: a message is delivered to
# the service worker through CDP, see test_push.py).

def registration_id(cdp, page) -> str:
    """The service worker registration's id as CDP names it (for deliverPushMessage)."""
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    for _ in range(200):  # the event follows enable; wait for it, not for a fixed time
        live = [r for r in registrations if not r.get("isDeleted")]
        if live:
            return live[0]["registrationId"]
        page.wait_for_timeout(25)
    raise AssertionError("no service worker registration reported")


def service_worker(context):
    """The service worker as Playwright sees it (it may report it a moment after the page)."""
    return (context.service_workers or [context.wait_for_event("serviceworker")])[0]


NOTIFICATIONS = """async () => (await (await navigator.serviceWorker.ready).getNotifications())
    .map((n) => ({ title: n.title, body: n.body, icon: n.icon, tag: n.tag, lang: n.lang,
                   data: n.data }))"""


def shown_notifications(page, until):
    """The notifications shown, once `until` holds for them (checked until it does)."""
    for _ in range(400):
        shown = page.evaluate(NOTIFICATIONS)
        if until(shown):
            return shown
        page.wait_for_timeout(25)
    raise AssertionError(f"notifications never as expected: {shown}")


def open_notes(page: Page, visit_type: str):
    """The visit's form at its second step, where the notes are."""
    page.goto("/#/kunjungan")
    page.locator("a.item", has_text=visit_type).first.click()
    page.get_by_role("button", name="Lanjut").click()
    return page.get_by_label("Catatan")


def edit_notes(page: Page, visit_type: str, text: str) -> None:
    open_notes(page, visit_type).fill(text)
    page.get_by_role("button", name="Simpan", exact=True).click()
    expect(page.locator("#syncbar")).to_contain_text("1 menunggu dikirim")


@contextmanager
def notes_in_conflict(browser, context_args: dict, visit_type: str, a_notes: str,
                      b_notes: str):
    """Two officers of one desa (phones a and b) change one visit's notes without signal;
    a pushes, b pushes (its later edit wins), a pulls the winner and the conflict. Yields
    (a, b); their contexts are closed afterwards."""
    phones = [browser.new_context(**context_args) for _ in range(2)]
    try:
        a, b = (ctx.new_page() for ctx in phones)
        login(a, "perangkat.uji")
        new_visit(a, "Catatan awal", visit_type=visit_type)
        sync_now(a)
        login(b, "perangkat.dua")
        sync_now(b)
        expect(open_notes(b, visit_type)).to_have_value("Catatan awal")
        for page, ctx in ((a, phones[0]), (b, phones[1])):
            wait_controlled(page)
            ctx.set_offline(True)
        edit_notes(a, visit_type, a_notes)
        edit_notes(b, visit_type, b_notes)
        for ctx in phones:
            ctx.set_offline(False)
        sync_now(a)
        sync_now(b)
        sync_now(a)
        yield a, b
    finally:
        for ctx in phones:
            ctx.close()


def api_headers(client, username: str, password: str = PASSWORD) -> dict:
    """Log in through the API (a Flask test client of the live server); the bearer header."""
    response = client.post("/api/auth/login", json={"username": username, "password": password,
                                                    "device_name": "HP uji"})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def api_person(client, headers: dict, name: str, **changes) -> str:
    """A woman of desa A registered through the API (public task unless changes say)."""
    person = {"name": name, "sex": "P", "birth_date": "1990-05-06", "desa_code": DESA_A,
              "migration_status": "purna_pmi", "lawful_basis": "tugas_publik"} | changes
    answer = client.post("/api/persons", headers=headers, json=person)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def api_referral(client, headers: dict, person_id: str, reason: str, urgency: str) -> str:
    """A referral to the LTSA through the API; its id."""
    answer = client.post("/api/referrals", headers=headers, json={
        "person_id": person_id, "services": ["pengaduan_kasus"], "reason": reason,
        "urgency": urgency})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]
