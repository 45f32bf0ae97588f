"""The online-only screens: Pemberitahuan (the in-app list and the push opt-in), Laporan
(a chart per table, exports) and Admin (accounts and devices), as their users meet them.

Headless Chromium has no push service and refuses a real pushManager.subscribe, so the
opt-in test stands in a subscribe() in the page that records the applicationServerKey it is
given and answers a subscription with real P-256 and auth keys; everything after it (the
POST, the server's row, the DELETE) is the app's and the server's own.
"""

import csv
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server import notify
from server.accounts import create_user
from server.domain import reports
from server.extensions import db
from server.models import CommunityGroup
from server.models import DeviceToken
from server.models import Notification
from server.models import Organisation
from server.models import PushSubscription
from server.models import User
from tests.browser.conftest import DESA_A
from tests.browser.conftest import PASSWORD
from tests.browser.ui_helpers import api_headers
from tests.browser.ui_helpers import api_person
from tests.browser.ui_helpers import api_referral
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser
ADMIN = "ops.admin"
PARTNER = "ops.mitra"
VAPID_SETTINGS = ("VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "VAPID_SUBJECT")

# pushManager in the page: subscribe() records its key and returns a subscription whose
# keys pass the server's checks; its endpoint refuses connections (nothing is sent there).
PUSH_STUB = """(() => {
  const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  let current = null;
  window.__subscribeKeys = [];
  PushManager.prototype.subscribe = async function (options) {
    window.__subscribeKeys.push(b64(options.applicationServerKey));
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true,
      ['deriveBits']);
    const p256dh = b64(await crypto.subtle.exportKey('raw', pair.publicKey));
    const auth = b64(crypto.getRandomValues(new Uint8Array(16)));
    const endpoint = `http://127.0.0.1:9/uji/${crypto.randomUUID()}`;
    current = {
      endpoint,
      toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
      unsubscribe: async () => { current = null; return true; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();"""


@pytest.fixture(scope="module")
def ops(live_server):
    """An admin and a partner account, and a referral the desk is notified of."""
    app = live_server.app
    with app.app_context():
        have = set(db.session.execute(sa.select(User.username)).scalars())
        if ADMIN not in have:
            create_user(ADMIN, PASSWORD, "Uji Admin", "admin")
        if PARTNER not in have:
            create_user(PARTNER, PASSWORD, "Uji Mitra", "partner", organisation_code="sbmi")
        db.session.commit()
        client = app.test_client()
        officer = api_headers(client, "perangkat.uji")
        person_id = api_person(client, officer, "Sumiati Laporan")
        referral_id = api_referral(client, officer, person_id, "Uji pemberitahuan", "segera")
        db.session.remove()
    return referral_id


def _desk_unread(live_server) -> int:
    (desk,) = live_server.query(sa.select(User.id).where(User.username == "ltsa.uji"))
    return len(live_server.query(sa.select(Notification.id).where(
        Notification.user_id == desk[0], Notification.read_at.is_(None))))


def test_the_desk_sees_its_notifications_and_marks_them_read(page, live_server, ops):
    assert _desk_unread(live_server) > 0
    login(page, "ltsa.uji")
    page.goto("/#/menu")
    expect(page.locator("#menu-notifications")).to_contain_text("baru")
    page.locator("#menu-notifications").click()
    expect(page).to_have_url(f"{live_server.url}/#/pemberitahuan")
    item = page.locator(f'li.notif:has(a[href="#/rujukan/{ops}"])')
    expect(item).to_have_attribute("data-read", "false")
    expect(item).to_contain_text("Baru")
    expect(page.locator("#notif-unread")).to_contain_text("belum dibaca")
    page.get_by_role("button", name="Tandai semua sudah dibaca").click()
    expect(page.locator("#notif-unread")).to_have_text("Semua sudah dibaca.")
    expect(item).to_have_attribute("data-read", "true")
    expect(page.locator('li.notif[data-read="false"]')).to_have_count(0)
    assert _desk_unread(live_server) == 0
    page.goto("/#/menu")
    expect(page.locator("#menu-notifications")).to_have_text("Pemberitahuan")


def test_push_is_asked_for_only_on_the_users_choice_and_stored_on_the_server(
        browser, browser_context_args, live_server):
    app = live_server.app
    context = browser.new_context(**browser_context_args)
    context.grant_permissions(["notifications"], origin=live_server.url)
    context.add_init_script(PUSH_STUB)
    saved = {name: app.config[name] for name in VAPID_SETTINGS}
    try:
        page = context.new_page()
        login(page, "ltsa.uji")
        wait_controlled(page)
        page.goto("/#/pemberitahuan")
        expect(page.locator("#push")).to_contain_text("aktif kalau Anda memilihnya")
        # Nothing is asked for before the user chooses.
        assert page.evaluate("window.__subscribeKeys") == []
        app.config.update(VAPID_PRIVATE_KEY=None, VAPID_PUBLIC_KEY=None)
        page.locator("#push-on").click()
        expect(page.locator("#push")).to_contain_text("belum disiapkan di server ini")
        assert page.evaluate("window.__subscribeKeys") == []
        private, public = notify.new_vapid_keys()
        app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public,
                          VAPID_SUBJECT="mailto:uji@jangkau.test")
        page.locator("#push-on").click()
        expect(page.locator("#push-state")).to_have_text("Pemberitahuan aktif di HP ini.")
        assert page.evaluate("window.__subscribeKeys") == [public]
        endpoint = page.evaluate(
            "async () => (await (await navigator.serviceWorker.ready)"
            ".pushManager.getSubscription()).endpoint")
        rows = live_server.query(sa.select(PushSubscription.endpoint, User.username)
                                 .join(User, User.id == PushSubscription.user_id)
                                 .where(PushSubscription.endpoint == endpoint))
        assert [tuple(r) for r in rows] == [(endpoint, "ltsa.uji")]
        # The browser's subscription of an earlier login (logout removed it on the server)
        # is not shown as this login's: the user is asked again.
        page.evaluate("localStorage.removeItem('jangkau.push')")
        page.goto("/#/menu")
        page.goto("/#/pemberitahuan")
        page.locator("#push-on").click()
        expect(page.locator("#push-state")).to_have_text("Pemberitahuan aktif di HP ini.")
        old, endpoint = endpoint, page.evaluate(
            "async () => (await (await navigator.serviceWorker.ready)"
            ".pushManager.getSubscription()).endpoint")
        assert old != endpoint
        assert live_server.query(sa.select(PushSubscription.id).where(
            PushSubscription.endpoint == old)) == []
        page.get_by_role("button", name="Matikan pemberitahuan").click()
        expect(page.locator("#push-on")).to_be_visible()
        assert live_server.query(sa.select(PushSubscription.id).where(
            PushSubscription.endpoint == endpoint)) == []
    finally:
        app.config.update(saved)
        context.close()


def _expected_cell(column: dict, row: dict) -> str:
    value = reports.export_value(column, row)
    return "" if value is None else str(value)


def test_the_report_draws_a_chart_per_table_and_its_csv_has_the_same_numbers(
        page, live_server, ops):
    login(page, "ltsa.uji")
    page.goto("/#/laporan")
    report = page.evaluate("""async () => {
        const { request } = await import('/js/api.js');
        const { getSession } = await import('/js/db.js');
        return request('GET', '/api/reports', null, (await getSession()).token);
    }""")
    keys = [table["key"] for table in report["tables"]]
    assert keys == list(reports.TABLE_KEYS)
    sections = page.locator("section.report-table")
    expect(sections).to_have_count(len(keys))
    for key in keys:
        expect(page.locator(f"#report-{key} figure svg")).to_have_count(1)
        expect(page.locator(f"#report-{key} table")).to_have_count(1)
    # Wide tables scroll in their own box: the screen never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    table = next(t for t in report["tables"] if t["key"] == "referrals_by_service")
    assert table["rows"], "the fixture's referral is in the report"
    expect(page.locator("#report-referrals_by_service tbody tr")).to_have_count(
        len(table["rows"]))
    with page.expect_download() as download_info:
        page.locator("#csv-referrals_by_service").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == [f'{c["label"]["id"]} / {c["label"]["en"]}' for c in table["columns"]]
    expected = [[_expected_cell(c, row) for c in table["columns"]] for row in table["rows"]]
    assert rows[:len(expected)] == expected
    if table.get("totals"):
        totals = [_expected_cell(c, table["totals"]) if c["key"] in table["totals"] else ""
                  for c in table["columns"]]
        assert rows[len(expected):] == [["Jumlah / Total", *totals[1:]]]


def test_a_partner_is_not_offered_reports_nor_admin(page, live_server, ops):
    client = live_server.app.test_client()
    headers = api_headers(client, PARTNER)
    assert client.get("/api/reports", headers=headers).status_code == 403
    login(page, PARTNER)
    page.goto("/#/menu")
    expect(page.locator("#menu-notifications")).to_be_visible()
    expect(page.locator("#menu-reports")).to_have_count(0)
    expect(page.locator("#menu-admin")).to_have_count(0)
    page.goto("/#/laporan")
    expect(page.locator("#main")).to_contain_text("Laporan tidak tersedia untuk peran Anda.")
    expect(page.locator("section.report-table")).to_have_count(0)


def test_the_admin_creates_an_account_and_revokes_its_device(page, live_server, ops):
    login(page, ADMIN)
    page.goto("/#/menu")
    page.locator("#menu-admin").click()
    form = page.locator("#account-form")
    form.get_by_label("Nama pengguna", exact=True).fill("ops.baru")
    form.get_by_label("Nama lengkap").fill("Petugas Baru")
    form.get_by_label("Kata sandi awal").fill("sandi-baru-12345")
    form.get_by_label("Peran").select_option(label="Petugas LTSA")
    form.get_by_role("button", name="Buat").click()
    row = page.locator('li[data-username="ops.baru"]')
    expect(row).to_contain_text("Petugas Baru")
    ((user_id, role),) = live_server.query(
        sa.select(User.id, User.role).where(User.username == "ops.baru"))
    assert role == "ltsa"
    client = live_server.app.test_client()
    response = client.post("/api/auth/login", json={
        "username": "ops.baru", "password": "sandi-baru-12345", "device_name": "HP hilang"})
    assert response.status_code == 201
    token = {"Authorization": f"Bearer {response.get_json()['token']}"}
    row.get_by_role("button", name="Kelola").click()
    expect(row.locator("li.device")).to_contain_text("HP hilang")
    row.locator(f"#revoke-{user_id}").click()
    row.get_by_role("button", name="Ya, cabut akses").click()
    expect(row).to_contain_text("1 perangkat dicabut.")
    expect(row.locator("li.device")).to_contain_text("Dicabut")
    revoked = live_server.query(sa.select(DeviceToken.revoked_at).where(
        DeviceToken.user_id == user_id))
    assert revoked and all(r[0] is not None for r in revoked)
    assert client.get("/api/me", headers=token).status_code == 401
    row.locator(f"#active-{user_id}").click()
    expect(row).to_contain_text("Semua HP-nya menghapus data Jangkau-nya")
    row.get_by_role("button", name="Ya, nonaktifkan").click()
    # The list is drawn again with the account's badge (the button's own words also hold
    # "Nonaktif", so the badge is what says the server took it).
    expect(row.locator(".badge", has_text="Nonaktif")).to_be_visible()
    assert live_server.query(sa.select(User.is_active).where(User.id == user_id)) == [(False,)]


def test_a_village_official_sees_the_report_of_their_own_desa(page, live_server, ops):
    login(page, "perangkat.uji")
    page.goto("/#/menu")
    expect(page.locator("#menu-admin")).to_have_count(0)
    page.locator("#menu-reports").click()
    expect(page.locator("#main")).to_contain_text("Angka desa Anda")
    expect(page.locator("section.report-table")).to_have_count(len(reports.TABLE_KEYS))
    # Per desa, without a kecamatan to choose: the official's scope is one desa.
    expect(page.get_by_label("Wilayah")).to_have_count(0)
    expect(page.locator("#report-referrals_by_service tbody")).to_contain_text("Waled Desa")


def test_the_admin_adds_an_organisation_and_a_community_group(page, live_server, ops):
    login(page, ADMIN)
    page.goto("/#/admin")
    page.locator("#admin-orgs summary").click()
    form = page.locator("#org-form")
    form.get_by_label("Kode").fill("yayasan_uji")
    form.get_by_label("Nama organisasi").fill("Yayasan Uji")
    form.get_by_label("Jenis").select_option(label="Organisasi masyarakat sipil")
    form.get_by_label("Bantuan hukum").check()
    form.get_by_role("button", name="Buat").click()
    expect(page.locator('li[data-org="yayasan_uji"]')).to_contain_text("Yayasan Uji")
    assert live_server.query(sa.select(Organisation.kind, Organisation.services).where(
        Organisation.code == "yayasan_uji")) == [("ngo", ["bantuan_hukum"])]
    # A refusal is shown under the field it names, in Bahasa Indonesia.
    form.get_by_role("button", name="Buat").click()
    expect(form).to_contain_text("Kode organisasi sudah dipakai.")
    page.locator("#admin-groups summary").click()
    group = page.locator("#group-form")
    group.get_by_label("Nama kelompok").fill("Pokmas Uji Admin")
    group.get_by_role("searchbox").fill("Waled Desa")
    group.get_by_role("button", name="Waled Desa").first.click()
    group.get_by_role("button", name="Buat").click()
    expect(page.locator("#groups")).to_contain_text("Pokmas Uji Admin")
    assert live_server.query(sa.select(CommunityGroup.desa_code).where(
        CommunityGroup.name == "Pokmas Uji Admin")) == [(DESA_A,)]


def test_the_admin_moves_a_partner_to_another_organisation(page, live_server, ops):
    with live_server.app.app_context():
        have = set(db.session.execute(sa.select(User.username)).scalars())
        if "ops.pindah" not in have:
            create_user("ops.pindah", PASSWORD, "Mitra Pindah", "partner",
                        organisation_code="sbmi")
        db.session.commit()
    login(page, ADMIN)
    page.goto("/#/admin")
    row = page.locator('li[data-username="ops.pindah"]')
    row.get_by_role("button", name="Kelola").click()
    form = row.locator("form[id^='move-']")
    form.get_by_label("Organisasi").select_option(label="WCC Mawar Balqis")
    form.get_by_role("button", name="Simpan tempat tugas").click()
    expect(page.get_by_text("Tempat tugas diubah.")).to_be_visible()
    ((code,),) = live_server.query(
        sa.select(Organisation.code).join(User, User.organisation_id == Organisation.id)
        .where(User.username == "ops.pindah"))
    assert code == "wcc_mawar_balqis"
