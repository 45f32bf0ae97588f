"""The LTSA desk's and the partners' screens, and what the village sees of their work: the
inbox from the phone's own copy, each action an event saved offline and synced, the consent
warning before a forward, and the JS rules table against sync/referral_status.py."""

import datetime as dt
import itertools
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.accounts import create_user
from server.extensions import db
from server.models import Referral
from server.models import ReferralEvent
from server.models import User
from sync import referral_status as rs
from tests.browser.conftest import PASSWORD
from tests.browser.ui_helpers import api_headers
from tests.browser.ui_helpers import api_person
from tests.browser.ui_helpers import api_referral
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser

PARTNER = ("wcc.uji", "wcc_mawar_balqis")
WCC = "WCC Mawar Balqis"
PLACE = "Kantor LTSA Sumber"
OUTCOME = "Didampingi melapor; paspor kembali."


def _refer(client, officer, name, urgency, birth_date="1990-05-06", purposes=None):
    person = {"birth_date": birth_date, "phone": "081234567890",
              "address": "Blok Kliwon RT 2"}
    if purposes:
        person |= {"lawful_basis": "persetujuan", "consent": {
            "purposes": purposes, "notice_version": "1", "method": "centang"}}
    person_id = api_person(client, officer, name, **person)
    answer = client.put(f"/api/persons/{person_id}/migration-plans", headers=officer,
                        json={"destination_country": "TW", "sector": "plrt"})
    assert answer.status_code == 201, answer.get_json()
    return api_referral(client, officer, person_id, "Uji meja", urgency)


@pytest.fixture(scope="module")
def referrals(live_server):
    """Four referrals of one officer, their names marked with a token only they carry; and
    a WCC account. The names say why each sorts where it does."""
    token = uuid.uuid4().hex[:6]
    app = live_server.app
    with app.app_context():
        if not db.session.execute(sa.select(User).where(User.username == PARTNER[0])).first():
            create_user(PARTNER[0], PASSWORD, "Uji WCC", "partner", organisation_code=PARTNER[1])
            db.session.commit()
        client = app.test_client()
        officer = api_headers(client, "perangkat.uji")
        ids = {
            "biasa": _refer(client, officer, f"Rukmini Biasa {token}", "biasa",
                            purposes=["pencatatan", "rujukan_ltsa"]),
            "anak": _refer(client, officer, f"Wartini Anak {token}", "biasa",
                           birth_date="2012-02-03"),
            "segera": _refer(client, officer, f"Sumi Segera {token}", "segera"),
            "darurat": _refer(client, officer, f"Darsih Darurat {token}", "darurat"),
            "lewat": _refer(client, officer, f"Yati Lewat {token}", "biasa"),
        }
        # Sent ten days ago and never acted on: overdue, whatever the weekday today.
        db.session.execute(sa.update(Referral).where(Referral.id == ids["lewat"]).values(
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=10)))
        db.session.commit()
        db.session.remove()
    return token, ids


def _events(live_server, referral_id):
    rows = live_server.query(sa.select(ReferralEvent).where(
        ReferralEvent.referral_id == referral_id).order_by(ReferralEvent.hlc))
    return [row[0] for row in rows]


def _status(live_server, referral_id):
    return live_server.query(sa.select(Referral.status).where(Referral.id == referral_id))[0][0]


def _act(page, action):
    page.locator(f"#desk-actions [data-action={action}]").click()
    page.locator("#confirm-action").click()


def _schedule(page, day):
    page.locator("#desk-actions [data-action=schedule]").click()
    page.locator("#appt-date").fill(day)
    page.locator("#appt-time").fill("09:30")
    page.locator("#appt-place").fill(PLACE)
    page.locator("#confirm-action").click()
    expect(page.locator("#ref-status")).to_contain_text("Dijadwalkan")


def _forward(page):
    page.locator("#desk-actions [data-action=forward]").click()
    page.locator("#forward-org").select_option(label=WCC)
    page.locator("#confirm-action").click()
    expect(page.locator("#ref-status")).to_contain_text("Dirujuk ke mitra")


def _add_consent(live_server, referral_id, purposes):
    """The referring officer records a new consent of the referral's person, online."""
    app = live_server.app
    with app.app_context():
        person_id = db.session.get(Referral, referral_id).person_id
        client = app.test_client()
        answer = client.post(f"/api/persons/{person_id}/consents",
                             headers=api_headers(client, "perangkat.uji"),
                             json={"purposes": purposes, "notice_version": "1",
                                   "method": "centang"})
        assert answer.status_code == 201, answer.get_json()
        db.session.remove()


def _inbox_names(page, token):
    page.goto("/#/meja")
    page.get_by_label("Cari nama warga").fill(token)
    return page.locator("#inbox li strong")


def test_desk_inbox_and_actions_offline_then_synced(context, page, live_server, referrals):
    token, ids = referrals
    login(page, "ltsa.uji")
    # The desk's screens are kept on the phone for offline use.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    expect(page.locator("html")).to_have_attribute("data-offline", "ready")
    expect(page.get_by_role("link", name="Daftarkan warga")).to_have_count(0)
    # The desk's home counts its own work (other tests' referrals may be there too).
    expect(page.locator("#st-overdue strong")).not_to_have_text("0")
    names = _inbox_names(page, token)
    # Overdue first, then urgent, segera, the child, the rest.
    order = ["Yati Lewat", "Darsih Darurat", "Sumi Segera", "Wartini Anak", "Rukmini Biasa"]
    expect(names).to_have_count(len(order))
    for n, name in enumerate(order):
        expect(names.nth(n)).to_contain_text(name)
    expect(page.locator("#inbox li").first).to_contain_text("Lewat jadwal")
    expect(page.locator("#inbox li").nth(1)).not_to_contain_text("Lewat jadwal")
    expect(page.locator("#inbox li").first).to_contain_text("Waled")
    expect(page.locator("#inbox li").first).to_contain_text("dari Perangkat Desa")
    expect(page.locator("#inbox-counts [data-status=terkirim]")).to_be_visible()
    page.get_by_text("Saring").click()
    page.get_by_label("Urgensi").select_option(label="Darurat")
    expect(names).to_have_count(1)
    page.get_by_label("Urgensi").select_option(value="")
    page.locator("#inbox-counts [data-status=terkirim]").click()
    expect(names).to_have_count(len(order))
    page.get_by_label("Layanan").select_option(label="Bantuan hukum")
    expect(names).to_have_count(0)
    page.get_by_label("Layanan").select_option(value="")
    expect(names).to_have_count(len(order))

    day = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    context.set_offline(True)
    # Consent basis without partner referral: receive and schedule, then the warning.
    # A link to #/rujukan (as a notification opens) shows the desk's page to the desk.
    page.goto(f"/#/rujukan/{ids['biasa']}")
    page.reload()  # offline: the app and the desk's screens come from the phone
    expect(page.locator("#desk-consent")).to_contain_text("Rujukan ke LTSA")
    expect(page.locator("#desk-phone")).to_contain_text("+6281234567890")
    expect(page.locator("#desk-plan")).to_contain_text("Taiwan")
    _act(page, "receive")
    expect(page.locator("#ref-status")).to_contain_text("Diterima")
    _schedule(page, day)
    expect(page.locator("#forward-needs-consent")).to_be_visible()
    page.locator("#desk-actions [data-action=forward]").click()
    expect(page.locator("#consent-warning")).to_contain_text("belum memberi persetujuan")
    expect(page.locator("#forward-org")).to_have_count(0)
    page.locator("#ask-consent").click()
    expect(page.locator("#desk-history")).to_contain_text("Mohon catat persetujuan baru")
    # The desk never hands back or withdraws: not offered.
    expect(page.locator("#desk-actions [data-action=hand_back]")).to_have_count(0)
    for key in ("darurat", "segera"):
        page.goto(f"/#/meja/{ids[key]}")
        _act(page, "receive")
        expect(page.locator("#ref-status")).to_contain_text("Diterima")
        _schedule(page, day)
        _forward(page)
    # A no-show, then a new appointment; and a note for the desk alone.
    page.goto(f"/#/meja/{ids['anak']}")
    _schedule(page, day)
    _act(page, "no_show")
    expect(page.locator("#ref-status")).to_contain_text("Tidak hadir")
    expect(page.locator("#desk-actions [data-action=schedule]")).to_have_text("Jadwalkan ulang")
    _schedule(page, day)
    page.goto(f"/#/meja/{ids['darurat']}")
    page.locator("#note").fill("Catatan internal meja.")
    page.locator("#save-note").click()
    expect(page.locator("#desk-history")).to_contain_text("Catatan internal meja.")
    context.set_offline(False)
    sync_now(page)

    events = _events(live_server, ids["biasa"])
    assert [(e.status, e.author_role) for e in events if e.kind == "status"] == [
        ("terkirim", "officer"), ("diterima", "ltsa"), ("dijadwalkan", "ltsa")]
    assert not any(e.flagged for e in events)
    (scheduled,) = [e for e in events if e.status == "dijadwalkan"]
    assert scheduled.place == PLACE and scheduled.appointment_at is not None
    assert [(e.audience, e.note[:28]) for e in events if e.kind == "note"] == [
        ("village", "Mohon catat persetujuan baru")]
    assert [e.status for e in _events(live_server, ids["anak"]) if e.kind == "status"] == [
        "terkirim", "dijadwalkan", "tidak_hadir", "dijadwalkan"]
    assert _status(live_server, ids["anak"]) == "dijadwalkan"
    (note,) = [e for e in _events(live_server, ids["darurat"]) if e.kind == "note"]
    assert (note.note, note.audience) == ("Catatan internal meja.", "desk")
    for key in ("darurat", "segera"):
        assert _status(live_server, ids[key]) == "dirujuk_lanjut"
        assert not any(e.flagged for e in _events(live_server, ids[key]))

    # The village records the further consent; after a sync the desk may forward.
    _add_consent(live_server, ids["biasa"], ["pencatatan", "rujukan_ltsa", "rujukan_mitra"])
    sync_now(page)
    page.goto(f"/#/meja/{ids['biasa']}")
    expect(page.locator("#desk-actions [data-action=forward]")).to_have_text("Rujuk ke mitra")
    expect(page.locator("#forward-needs-consent")).to_have_count(0)
    _forward(page)
    sync_now(page)
    assert _status(live_server, ids["biasa"]) == "dirujuk_lanjut"


def test_partner_sees_only_forwarded_hands_back_and_closes(page, live_server, referrals):
    token, ids = referrals
    if _status(live_server, ids["darurat"]) != "dirujuk_lanjut":
        pytest.fail("runs after test_desk_inbox_and_actions_offline_then_synced")
    login(page, PARTNER[0])
    expect(page.get_by_role("link", name="Daftarkan warga")).to_have_count(0)
    page.goto("/#/warga")
    expect(page.locator("main ul.items")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Daftarkan warga")
    names = _inbox_names(page, token)
    expect(names).to_have_count(3)
    expect(page.locator("#inbox")).not_to_contain_text("Wartini Anak")
    expect(page.locator("#inbox")).not_to_contain_text("Yati Lewat")
    page.goto(f"/#/meja/{ids['segera']}")
    expect(page.locator("#desk-actions [data-action=hand_back]")).to_be_visible()
    expect(page.locator("#desk-actions [data-action=forward]")).to_have_count(0)
    _act(page, "hand_back")
    expect(page.locator("#ref-status")).to_contain_text("Dikembalikan ke LTSA")
    page.goto(f"/#/meja/{ids['darurat']}")
    expect(page.locator("#desk-actions [data-action=forward]")).to_have_count(0)
    # No consent to follow-up contact: the server did not send phone and address.
    expect(page.locator("#contact-hidden")).to_have_text(
        "Nomor HP dan alamat disembunyikan (tidak ada persetujuan kontak lanjutan).")
    expect(page.locator("#desk-phone")).to_have_count(0)
    _act(page, "serve")
    expect(page.locator("#ref-status")).to_contain_text("Sedang dilayani")
    page.locator("#desk-actions [data-action=close]").click()
    page.locator("#outcome").fill(OUTCOME)
    page.locator("#confirm-action").click()
    expect(page.locator("#ref-status")).to_contain_text("Selesai")
    page.locator("#note").fill("Mohon desa memantau.")
    page.get_by_label("Desa yang merujuk").check()
    page.locator("#save-note").click()
    expect(page.locator("#desk-history")).to_contain_text("Mohon desa memantau.")
    sync_now(page)
    assert _status(live_server, ids["segera"]) == "dikembalikan"
    assert _status(live_server, ids["darurat"]) == "selesai"


def test_village_sees_where_it_went(page, live_server, referrals):
    _token, ids = referrals
    if _status(live_server, ids["darurat"]) != "selesai":
        pytest.fail("runs after test_partner_sees_only_forwarded_hands_back_and_closes")
    login(page, "perangkat.uji")
    sync_now(page)
    page.goto("/#/")
    expect(page.locator("#home-changed")).to_contain_text("Darsih Darurat")
    page.goto(f"/#/rujukan/{ids['darurat']}")
    expect(page.locator("#ref-org")).to_contain_text(WCC)
    expect(page.locator("#ref-appt")).to_contain_text(PLACE)
    expect(page.locator("#ref-outcome")).to_contain_text(OUTCOME)
    expect(page.get_by_text("Mohon desa memantau.")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Catatan internal meja.")
    page.goto("/#/")
    expect(page.locator("#home-changed")).not_to_contain_text("Darsih Darurat")


def test_js_rules_table_equals_the_python_one(blank_page):
    """Every role × status reached × status asked × served × forwarded, both sides."""
    roles = sorted(rs.ROLE_STATUSES) + ["unknown"]
    olds = [None, *rs.STATUSES]
    news = [*rs.STATUSES, "bogus"]
    cases = [[role, old, new, served, forwarded] for role, old, new, served, forwarded
             in itertools.product(roles, olds, news, (False, True), (False, True))]
    got = blank_page.evaluate("""async (cases) => {
        const r = await import('/js/referral-rules.js');
        return cases.map(([role, old, next, served, forwarded]) =>
            r.transitionProblem(old, next, role, { served, forwarded }));
    }""", cases)
    want = [rs.transition_problem(old, new, role, served=served, forwarded=forwarded)
            for role, old, new, served, forwarded in cases]
    assert got == want
    tables = blank_page.evaluate("""async () => {
        const r = await import('/js/referral-rules.js');
        return { statuses: r.STATUSES, transitions: r.TRANSITIONS, roles: r.ROLE_STATUSES,
                 withdrawing: [...r.WITHDRAWING_ROLES] };
    }""")
    assert tables["statuses"] == list(rs.STATUSES)
    assert {k or None: sorted(v) for k, v in tables["transitions"].items()} == {
        k: sorted(v) for k, v in rs.TRANSITIONS.items()}
    assert {k: sorted(v) for k, v in tables["roles"].items()} == {
        k: sorted(v) for k, v in rs.ROLE_STATUSES.items()}
    assert sorted(tables["withdrawing"]) == sorted(rs.WITHDRAWING_ROLES)


def test_consent_and_contact_rules(blank_page):
    """Phone and address by the reader's purpose; a forward's consent as the server's."""
    cases = [
        ("ltsa", "tugas_publik", [], True),
        ("ltsa", "persetujuan", [["pencatatan"]], False),
        ("ltsa", "persetujuan", [["rujukan_ltsa"]], True),
        ("partner", "tugas_publik", [], False),
        ("partner", "persetujuan", [["rujukan_ltsa", "rujukan_mitra"]], True),
        ("officer", "persetujuan", [], True),
    ]
    got = blank_page.evaluate("""async (cases) => {
        const r = await import('/js/referral-rules.js');
        return cases.map(([role, basis, purposes]) => {
            const consents = purposes.map((p) => ({ purposes: p }));
            const person = { lawful_basis: basis };
            return [r.contactAllowed(role, person, consents),
                    r.forwardConsentMissing(person, consents)];
        });
    }""", cases)
    for (role, basis, purposes, contact), (shown, missing) in zip(cases, got, strict=True):
        assert shown is contact, (role, basis, purposes)
        has_mitra = any("rujukan_mitra" in p for p in purposes)
        assert missing is (basis == "persetujuan" and not has_mitra), (basis, purposes)

