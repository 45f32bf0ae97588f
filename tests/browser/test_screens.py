"""The screens as a user meets them: login errors, the consent step first, NIK and phone
checks, the child flag, logout that clears the phone, drafts, English, the update banner,
and the size of the first load."""

import datetime as dt
import json
import random
import re
from pathlib import Path

import pytest
from marshmallow import ValidationError
from playwright.sync_api import expect

from server import enums
from server import identity
from server.schemas.records import today as schemas_today
from tests.browser.ui_helpers import IDB_COUNTS
from tests.browser.ui_helpers import IDB_RECORDS_TEXT
from tests.browser.ui_helpers import accept_consent
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import new_visit
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled

CATALOGS = Path(__file__).resolve().parents[2] / "pwa" / "i18n"
FIRST_LOAD_BUDGET = 60 * 1024


def test_catalogs_hold_every_enumeration_of_the_server():
    """Labels come from the catalogs: the codes and words of server/enums.py."""
    id_cat, en_cat = (json.loads((CATALOGS / f"{code}.json").read_text()) for code in ("id", "en"))
    assert set(id_cat) == set(en_cat)
    groups = {"role": enums.ROLES, "sex": enums.SEXES, "visit_type": enums.VISIT_TYPES,
              "topic": enums.TOPICS, "migration_status": enums.MIGRATION_STATUSES,
              "lawful_basis": enums.LAWFUL_BASES, "marital_status": enums.MARITAL_STATUSES,
              "education": enums.EDUCATION_LEVELS, "sector": enums.SECTORS,
              "scheme": enums.SCHEMES, "document": enums.DOCUMENTS,
              "consent_method": enums.CONSENT_METHODS,
              "consent_purpose": enums.CONSENT_PURPOSES, "urgency": enums.URGENCIES,
              "service": enums.SERVICES, "referral_status": enums.REFERRAL_STATUSES,
              "case_category": enums.CASE_CATEGORIES}
    for group, codes in groups.items():
        assert id_cat["enum"][group] == {c: pair[0] for c, pair in codes.items()}, group
        assert en_cat["enum"][group] == {c: pair[1] for c, pair in codes.items()}, group
    assert set(id_cat["enum"]) == set(en_cat["enum"])


def _nik_and_phone_cases() -> tuple[list[str], list[str]]:
    rng = random.Random(3209)
    niks = ["3209014101900001", "3209 0141 0190 0001", "32.09.01.410190.0001", "320901410190000",
            "32090141019000011", "0009014101900001", "3200014101900001", "3209004101900001",
            "3209013213900001", "3209017213900001", "3209010013900001", "3209012902000001",
            "3209012902010001", "3209016902040001", "3209010101900000", "32090A4101900001", ""]
    for _ in range(150):
        day = rng.choice([rng.randint(0, 80), rng.randint(1, 31) + rng.choice([0, 40])])
        niks.append(f"{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}"
                    f"{day:02d}{rng.randint(0, 14):02d}{rng.randint(0, 99):02d}"
                    f"{rng.choice([0, rng.randint(0, 9999)]):04d}")
    phones = ["081234567890", "0812-3456-7890", "+62 812 3456 7890", "6281234567890",
              "(0812) 3456.7890", "0212345678", "08123", "0812345678901234", "812345678",
              "+6281x", "+62", "", "62812345678", "0812345678"]
    for _ in range(60):
        phones.append(rng.choice(["0", "62", "+62", "+62 ", "8"]) + rng.choice(["8", "2"])
                      + str(rng.randint(10**6, 10**12)))
    return niks, phones


@pytest.mark.browser
def test_nik_and_phone_checks_match_the_server(blank_page):
    """validate.js gives the same answers and words as server/identity.py."""
    niks, phones = _nik_and_phone_cases()
    catalog = json.loads((CATALOGS / "id.json").read_text())
    js = blank_page.evaluate("""async ([niks, phones]) => {
      const v = await import('/js/validate.js');
      return {
        niks: niks.map((n) => { const r = v.parseNik(n); return r.nik || r.error; }),
        phones: phones.map((p) => { const r = v.normalisePhone(p); return r.value || r.error; }),
      };
    }""", [niks, phones])

    def words(error):
        return catalog[error["key"]].format(**(error.get("vars") or {}))

    today = schemas_today()
    for raw, got in zip(niks, js["niks"], strict=True):
        try:
            nik = identity.parse_nik(raw, today)
        except ValidationError as e:
            assert "key" in got and words(got) == e.messages[0].id_text, raw
        else:
            assert (got["number"], got["region"], got["birthDate"], got["sex"]) == (
                nik.number, nik.region, nik.birth_date.isoformat(), nik.sex), raw
    for raw, got in zip(phones, js["phones"], strict=True):
        try:
            assert got == identity.normalise_phone(raw), raw
        except ValidationError as e:
            assert isinstance(got, dict) and words(got) == e.messages[0].id_text, raw


@pytest.mark.browser
def test_login_errors_in_plain_words(page):
    page.goto("/")
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("alert")).to_have_text("Isi nama pengguna dan kata sandi.")
    page.get_by_label("Nama pengguna").fill("perangkat.uji")
    page.get_by_label("Kata sandi").fill("bukan-sandinya")
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("alert")).to_contain_text("Nama pengguna atau kata sandi salah")
    expect(page.get_by_label("Kata sandi")).to_have_value("")
    # The lock after many failures, answered as the server does (without locking anyone).
    page.route("**/api/auth/login", lambda route: route.fulfill(status=429, json={"error": {
        "status": 429, "retry_after_minutes": 12, "message": {
            "id": "Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam 12 menit.",
            "en": "Too many failed logins. Try again in 12 minutes."}}}))
    page.get_by_label("Kata sandi").fill("lagi-salah")
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Terlalu banyak percobaan yang gagal. Coba lagi dalam 12 menit.")


@pytest.mark.browser
def test_consent_step_comes_before_any_personal_field(page):
    login(page, "perangkat.uji")
    page.goto("/#/warga/baru")
    expect(page.get_by_text("Langkah 1 dari 4")).to_be_visible()
    expect(page.get_by_role("heading", name="Untuk apa data ini?")).to_be_visible()
    expect(page.get_by_role("heading", name="Hak Anda")).to_be_visible()
    for name in ("Nama lengkap", "Tanggal lahir", "NIK (boleh dikosongkan)",
                 "Nomor HP (boleh dikosongkan)", "Alamat"):
        expect(page.get_by_label(name)).to_have_count(0)
    # Nothing goes further until the notice is confirmed and a method chosen.
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Bacakan pemberitahuan lalu centang konfirmasi.")).to_be_visible()
    expect(page.get_by_label("Nama lengkap")).to_have_count(0)
    page.get_by_label("Tanda tangan").check()
    page.get_by_label("Pemberitahuan di atas sudah saya bacakan kepada warga.").check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()
    expect(page.get_by_label("Nama lengkap")).to_be_visible()


@pytest.mark.browser
def test_nik_errors_and_warnings(page):
    login(page, "perangkat.uji")
    accept_consent(page)
    page.get_by_label("Nama lengkap").fill("Uji NIK")
    page.get_by_label("Laki-laki", exact=True).check()
    page.get_by_label("Tanggal lahir").fill("1990-01-02")
    nik = page.get_by_label("NIK (boleh dikosongkan)")
    field = page.locator(".field", has=nik)
    errors = [
        ("320901450", "NIK harus 16 angka (ada 9)."),
        ("3209000101900001", "Kode wilayah pada NIK (6 angka pertama) tidak valid."),
        ("3209013213900001", "Tanggal lahir pada NIK (angka ke-7 s.d. 12) tidak mungkin."),
        ("3209010101900000", "Nomor urut NIK (4 angka terakhir) tidak boleh 0000."),
    ]
    for value, message in errors:
        nik.fill(value)
        nik.blur()
        expect(field.locator(".err")).to_have_text(f"✖ {message}")
    # An error keeps the form on this step.
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()

    # A woman's NIK (day + 40), another birth date, a region outside 32.09: warnings only.
    nik.fill("3201014101900001")
    nik.blur()
    expect(field.locator(".err")).to_be_hidden()
    warn = field.locator(".warn")
    expect(warn).to_contain_text("Menurut NIK, jenis kelaminnya perempuan")
    expect(warn).to_contain_text("Tanggal lahir pada NIK berbeda dengan tanggal lahir yang diisi.")
    expect(warn).to_contain_text("NIK ini pertama kali terdaftar di luar Kabupaten Cirebon.")
    page.get_by_label("Perempuan", exact=True).check()
    page.get_by_label("Tanggal lahir").fill("1990-01-01")
    expect(warn).to_have_text("⚠ NIK ini pertama kali terdaftar di luar Kabupaten Cirebon.")
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 3 dari 4")).to_be_visible()


@pytest.mark.browser
def test_phone_is_normalised_to_plus_62(page):
    login(page, "perangkat.uji")
    accept_consent(page)
    phone = page.get_by_label("Nomor HP (boleh dikosongkan)")
    field = page.locator(".field", has=phone)
    for typed in ("0812-3456-7890", "62 812 3456 7890", "+62 812-3456-7890"):
        phone.fill(typed)
        phone.blur()
        expect(phone).to_have_value("+6281234567890")
        expect(field.locator(".err")).to_be_hidden()
    for typed, message in (("0212345678", "Bukan nomor HP Indonesia (08…)."),
                           ("08123", "Nomor HP terdiri dari 10–13 angka (termasuk 0 di depan)."),
                           ("812345678", "Tulis nomor HP diawali 08, 628 atau +62.")):
        phone.fill(typed)
        phone.blur()
        expect(field.locator(".err")).to_have_text(f"✖ {message}")


@pytest.mark.browser
def test_a_child_is_flagged_and_needs_a_guardian(page):
    login(page, "perangkat.uji")
    accept_consent(page)
    page.get_by_label("Nama lengkap").fill("Anak Uji")
    page.get_by_label("Perempuan", exact=True).check()
    badge = page.locator(".field .badge.child")
    page.get_by_label("Tanggal lahir").fill("1999-06-01")
    expect(badge).to_be_hidden()
    ten_years_ago = dt.date.today().replace(year=dt.date.today().year - 10, day=1)
    page.get_by_label("Tanggal lahir").fill(ten_years_ago.isoformat())
    expect(badge).to_have_text("★ Anak")
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Warga di bawah 18 tahun: persetujuan diberikan orang tua/wali; "
                            "isi namanya.")).to_be_visible()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()
    page.get_by_label("Nama orang tua/wali").fill("Warsidi")
    page.get_by_label("Ayah", exact=True).check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 3 dari 4")).to_be_visible()


@pytest.mark.browser
def test_logout_warns_about_unsent_edits_and_clears_the_phone(context, page):
    login(page, "perangkat.uji")
    new_visit(page, "Kunjungan terkirim sebelum keluar")
    sync_now(page)
    wait_controlled(page)
    context.set_offline(True)
    new_visit(page, "Kunjungan belum terkirim saat keluar")

    page.goto("/#/menu")
    page.locator("#logout").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Ada 1 perubahan yang belum terkirim. Jika keluar sekarang, perubahan itu hilang.")
    # Refused without confirmation: still logged in, the edit still waits.
    page.goto("/#/kunjungan")
    expect(page.locator("a.item", has_text="Sosialisasi").first).to_contain_text(
        "menunggu dikirim")
    assert page.evaluate(IDB_COUNTS)["outbox"] == 1

    page.goto("/#/menu")
    page.locator("#logout").click()
    page.get_by_role("button", name="Tetap keluar dan hapus 1 perubahan").click()
    expect(page.get_by_role("button", name="Masuk")).to_be_visible()
    assert set(page.evaluate(IDB_COUNTS).values()) == {0}

    context.set_offline(False)
    login(page, "pokmas.uji")
    sync_now(page)
    page.goto("/#/kunjungan")
    expect(page.get_by_text("Belum ada kunjungan.")).to_be_visible()
    stored = page.evaluate(IDB_RECORDS_TEXT)
    assert "sebelum keluar" not in stored and "saat keluar" not in stored


@pytest.mark.browser
def test_a_refused_edit_is_shown_fixed_and_dismissed(page):
    login(page, "perangkat.uji")
    # A visit dated in the future, which the form would not let through, straight into the outbox.
    page.evaluate("""async () => {
      const db = await import('/js/db.js');
      await db.saveEdit('visits', crypto.randomUUID(), {
        visit_type: 'pendataan', visit_date: '2999-01-01', desa_code: '32.09.01.2008', dusun: '',
        rt: '', rw: '', community_group_id: null, topics: [], participants_male: 2,
        participants_female: 0, participants_children: 0, notes: 'Tanggalnya salah'});
    }""")
    sync_now(page)
    expect(page.locator("#syncbar")).to_contain_text("✖ 1 ditolak server")
    refused = page.locator(".item.refused")
    expect(refused).to_contain_text("Kunjungan")
    expect(refused).to_contain_text("Tanggal: Tanggal tidak boleh di masa depan.")
    refused.get_by_role("button", name="Perbaiki").click()
    # The form opens with the refused values and the server's reason, ready to correct.
    expect(page.get_by_role("alert")).to_contain_text("Tanggal: Tanggal tidak boleh di masa depan.")
    expect(page.get_by_label("Pendataan CPMI")).to_be_checked()
    expect(page.get_by_label("Tanggal")).to_have_value("2999-01-01")
    page.get_by_role("button", name="Lanjut").click()
    expect(page.locator("p.err", has_text="Tanggal tidak boleh di masa depan.")).to_be_visible()
    page.goto("/#/sinkronisasi")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".item.refused").get_by_role("button", name="Abaikan").click()
    expect(page.get_by_text("Tidak ada perubahan yang ditolak.")).to_be_visible()
    expect(page.locator("#syncbar")).not_to_contain_text("ditolak")


@pytest.mark.browser
def test_a_form_keeps_its_draft_when_the_page_is_closed(context, page):
    login(page, "perangkat.uji")
    accept_consent(page)
    page.get_by_label("Nama lengkap").fill("Warga Setengah Jalan")
    page.get_by_label("Perempuan", exact=True).check()
    page.wait_for_timeout(400)
    page.close()

    page = context.new_page()
    page.goto("/#/warga/baru")
    expect(page.get_by_text("Isian yang belum disimpan dimuat kembali.")).to_be_visible()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()
    expect(page.get_by_label("Nama lengkap")).to_have_value("Warga Setengah Jalan")
    expect(page.get_by_label("Perempuan", exact=True)).to_be_checked()


@pytest.mark.browser
def test_language_switch_to_english_is_remembered(page):
    login(page, "perangkat.uji")
    page.goto("/#/menu")
    page.get_by_label("English").check()
    expect(page.locator("#title")).to_have_text("Menu")
    expect(page.get_by_role("heading", name="Log out")).to_be_visible()
    page.reload()
    page.goto("/#/")
    expect(page.locator("#title")).to_have_text("Home")
    expect(page.get_by_role("link", name="+ New visit")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/#/menu")
    page.get_by_label("Bahasa Indonesia").check()
    expect(page.get_by_role("heading", name="Keluar")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "id")


@pytest.mark.browser
def test_update_waits_for_an_unsaved_form(page, live_server):
    login(page, "perangkat.uji")
    wait_controlled(page)
    page.goto("/#/kunjungan/baru")
    page.get_by_label("Dusun/blok").fill("Belum disimpan")
    # A new version on the server: any changed file makes a new worker.
    css = live_server.pwa_dir / "css" / "app.css"
    css.write_text(css.read_text() + "\n/* versi uji */\n")
    page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
    banner = page.locator("#update")
    expect(banner).to_contain_text("Versi baru tersedia")
    banner.get_by_role("button", name="Muat ulang").click()
    expect(banner).to_contain_text("Simpan dulu isian formulir ini, lalu muat ulang.")
    expect(page.get_by_label("Dusun/blok")).to_have_value("Belum disimpan")
    page.get_by_label("Sosialisasi").check()
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_role("button", name="Simpan", exact=True).click()
    # Saving is asynchronous: the update is applied only once the form counts as saved,
    # which hides the hint and leaves the form for the list.
    expect(banner.get_by_text("Simpan dulu isian formulir ini")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"#/kunjungan$"))
    # A mark on this document: it is gone only once the new version has reloaded the page.
    page.evaluate("window.__before_update = true")
    # Waiting for the reload as an event: a polled predicate would be eval'd under the
    # page's CSP (script-src 'self') if the reload had not happened yet.
    with page.expect_event("load"):
        banner.get_by_role("button", name="Muat ulang").click()
    assert page.evaluate("() => window.__before_update") is None
    expect(page.locator("#update")).to_be_hidden()


@pytest.mark.browser
def test_first_load_of_the_login_screen_fits_the_budget(page):
    sizes = {}
    page.on("requestfinished", lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
    page.goto("/")
    expect(page.get_by_role("button", name="Masuk")).to_be_visible()
    page.wait_for_load_state("networkidle")
    total = sum(sizes.values())
    assert total <= FIRST_LOAD_BUDGET, sorted(sizes.items(), key=lambda kv: -kv[1])
    # Screens load when opened: the login screen does not carry the forms.
    assert not any("/views/register.js" in url or "/views/visits.js" in url for url in sizes)
