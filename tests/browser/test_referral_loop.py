"""The whole referral loop, three phones against one server.

A village official registers a person (consent to referral to the LTSA and to partners) and
refers her with no signal; after the phone syncs, the referral is in the LTSA desk's inbox
and the desk's phone is told by web push. The desk schedules and forwards to WCC; WCC serves
and closes with an outcome; the official's phone is told by push and, after its next sync,
shows where the referral went, the appointment and the outcome.

Each push is real up to the push service: the push worker sends it with pywebpush to the
test's receiver (tests/push_receiver.py), which checks the VAPID signature, decrypts it and
finds no personal data in it; the decrypted payload is then delivered to that phone's
service worker through CDP (headless Chromium has no push service), which must show it.
"""

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server import notify
from server import push_worker
from server.accounts import create_user
from server.extensions import db
from server.models import Consent
from server.models import PushSubscription
from server.models import Referral
from server.models import ReferralEvent
from server.models import User
from tests.browser.conftest import PASSWORD
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import refer
from tests.browser.ui_helpers import registration_id
from tests.browser.ui_helpers import shown_notifications
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled
from tests.push_receiver import Receiver

pytestmark = pytest.mark.browser

OFFICIAL = "perangkat.uji"
DESK = "ltsa.uji"
PARTNER = ("wcc.uji", "wcc_mawar_balqis")
WCC = "WCC Mawar Balqis"
PERSON = "Sukaesih Lingkar"
PHONE = "0812 3456 7890"
REASON = "Dijanjikan kerja di Taiwan tanpa kontrak"
PLACE = "Kantor LTSA Sumber"
OUTCOME = "Didampingi melapor; kontrak kerja diperiksa."
VAPID_SETTINGS = ("VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "VAPID_SUBJECT")
# What a payload may say: what happened, how many, which desa, the referral to open.
PAYLOAD_KEYS = {"id", "kind", "title", "body", "en", "count", "desa", "kecamatan", "urgent",
                "child", "referral_id", "url"}


@pytest.fixture
def vapid(live_server):
    """The live server with a VAPID key pair, as `flask vapid-keys` makes one; its push
    subscriptions and the test's notifications are removed afterwards."""
    app = live_server.app
    saved = {name: app.config[name] for name in VAPID_SETTINGS}
    private, public = notify.new_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public,
                      VAPID_SUBJECT="mailto:uji@jangkau.test")
    with app.app_context():
        if not db.session.execute(sa.select(User).where(User.username == PARTNER[0])).first():
            create_user(PARTNER[0], PASSWORD, "Uji WCC", "partner", organisation_code=PARTNER[1])
            db.session.commit()
        db.session.remove()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.execute(sa.delete(PushSubscription))
            db.session.commit()
            db.session.remove()
        app.config.update(saved)


def _phone(browser, browser_context_args, base_url):
    context = browser.new_context(**browser_context_args)
    context.grant_permissions(["notifications"], origin=base_url)
    return context, context.new_page()


def _subscribe(page, subscription: dict) -> None:
    """Store this device's push subscription through the app's API module with the phone's
    own login (pushManager.subscribe is refused headless: the receiver's stands in)."""
    page.evaluate("""async (subscription) => {
        const api = await import('/js/api.js');
        const db = await import('/js/db.js');
        const { token } = await db.getSession();
        await api.request('POST', '/api/push/subscription', subscription, token);
    }""", subscription)


def _send_pushes(app, receiver, browser, referral_id) -> list[dict]:
    """Run the push worker until nothing is due; the payloads `browser` got for the
    referral, each checked for personal data."""
    with app.app_context():
        try:
            # Other tests' notifications may be waiting too: send them all.
            while push_worker.send_round().claimed:
                pass
        finally:
            db.session.remove()
    assert receiver.errors == []
    payloads = [p for p in receiver.delivered(browser) if p["referral_id"] == referral_id]
    for payload in payloads:
        assert set(payload) == PAYLOAD_KEYS, payload
        text = json.dumps(payload, ensure_ascii=False).lower()
        for private in (PERSON, "sukaesih", "3456", REASON, PLACE, OUTCOME):
            assert private.lower() not in text, (private, payload)
    return payloads


def _deliver(context, page, base_url, payload) -> dict:
    """Deliver a decrypted payload to the phone's service worker; the notification shown."""
    cdp = context.new_cdp_session(page)
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": base_url, "registrationId": registration_id(cdp, page),
        "data": json.dumps(payload)})
    (shown,) = shown_notifications(page, lambda shown: shown)
    return shown


def _register_with_partner_consent(page) -> None:
    """Register an adult through the four steps, consenting to both kinds of referral."""
    page.goto("/#/warga/baru")
    expect(page.get_by_text("Langkah 1 dari 4")).to_be_visible()
    page.get_by_label("Rujukan ke LTSA").check()
    page.get_by_label("Rujukan ke organisasi mitra (SBMI, WCC)").check()
    page.get_by_label("Centang di layar").check()
    page.get_by_label("Pemberitahuan di atas sudah saya bacakan kepada warga.").check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 2 dari 4")).to_be_visible()
    page.get_by_label("Nama lengkap").fill(PERSON)
    page.get_by_label("Perempuan", exact=True).check()
    page.get_by_label("Tanggal lahir").fill("1994-07-21")
    page.get_by_label("Nomor HP (boleh dikosongkan)").fill(PHONE)
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 3 dari 4")).to_be_visible()
    page.get_by_label("CPMI", exact=True).check()
    page.get_by_role("button", name="Lanjut").click()
    expect(page.get_by_text("Langkah 4 dari 4")).to_be_visible()
    page.get_by_label("Taiwan").check()
    page.get_by_role("button", name="Simpan", exact=True).click()
    expect(page.get_by_role("link", name="Rujuk ke LTSA")).to_be_visible()


def _act(page, action, status):
    page.locator(f"#desk-actions [data-action={action}]").click()
    page.locator("#confirm-action").click()
    expect(page.locator("#ref-status")).to_contain_text(status)


def _statuses(live_server, referral_id):
    rows = live_server.query(sa.select(ReferralEvent).where(
        ReferralEvent.referral_id == referral_id, ReferralEvent.kind == "status"
    ).order_by(ReferralEvent.hlc))
    return [(row[0].status, row[0].author_role, row[0].flagged) for row in rows]


def test_a_referral_made_offline_goes_round_the_loop(browser, browser_context_args, base_url,
                                                     live_server, vapid):
    app = vapid
    official_ctx, official = _phone(browser, browser_context_args, base_url)
    desk_ctx, desk = _phone(browser, browser_context_args, base_url)
    partner_ctx, partner = _phone(browser, browser_context_args, base_url)
    try:
        with Receiver() as receiver:
            official_push, desk_push = receiver.browser("official"), receiver.browser("desk")
            # Each phone logs in and keeps its screens for offline use; the official's and
            # the desk's phones store their push subscriptions.
            login(official, OFFICIAL)
            wait_controlled(official)
            _subscribe(official, official_push.subscription())
            login(desk, DESK)
            wait_controlled(desk)
            _subscribe(desk, desk_push.subscription())
            login(partner, PARTNER[0])
            wait_controlled(partner)

            # No signal in the village: the person and the referral wait on the phone.
            official_ctx.set_offline(True)
            _register_with_partner_consent(official)
            refer(official, REASON)
            expect(official.get_by_text("Status: Draf")).to_be_visible()
            referral_id = re.search(r"#/rujukan/([0-9a-f-]{36})$", official.url).group(1)
            assert live_server.query(sa.select(Referral.id).where(
                Referral.id == referral_id)) == []
            official_ctx.set_offline(False)
            sync_now(official)
            assert _statuses(live_server, referral_id) == [("terkirim", "officer", False)]
            (purposes,) = live_server.query(sa.select(Consent.purposes).join(
                Referral, Referral.person_id == Consent.person_id).where(
                Referral.id == referral_id))
            assert sorted(purposes[0]) == ["pencatatan", "rujukan_ltsa", "rujukan_mitra"]

            # The desk's phone is told: no name, just what happened and where.
            (news,) = _send_pushes(app, receiver, desk_push, referral_id)
            assert news["kind"] == "new_referral" and news["desa"] == "Waled Desa"
            desk.goto("/#/")
            shown = _deliver(desk_ctx, desk, base_url, news)
            assert shown["title"] == news["title"] and shown["body"] == news["body"]
            assert shown["tag"] == f"rujukan-{referral_id}"
            assert shown["data"]["url"] == f"{base_url}/#/rujukan/{referral_id}"

            # After its sync the referral is in the desk's inbox; the desk schedules it and
            # forwards it to WCC.
            sync_now(desk)
            desk.goto("/#/meja")
            desk.get_by_label("Cari nama warga").fill(PERSON)
            row = desk.locator("#inbox li", has_text=PERSON)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("Waled")
            row.get_by_role("link").first.click()
            expect(desk).to_have_url(re.compile(rf"#/(meja|rujukan)/{referral_id}$"))
            expect(desk.locator("#desk-consent")).to_contain_text("Rujukan ke organisasi mitra")
            day = dt.date.today() + dt.timedelta(days=7)
            desk.locator("#desk-actions [data-action=schedule]").click()
            desk.locator("#appt-date").fill(day.isoformat())
            desk.locator("#appt-time").fill("09:30")
            desk.locator("#appt-place").fill(PLACE)
            desk.locator("#confirm-action").click()
            expect(desk.locator("#ref-status")).to_contain_text("Dijadwalkan")
            desk.locator("#desk-actions [data-action=forward]").click()
            desk.locator("#forward-org").select_option(label=WCC)
            desk.locator("#confirm-action").click()
            expect(desk.locator("#ref-status")).to_contain_text("Dirujuk ke mitra")
            sync_now(desk)

            # WCC sees it after its sync, serves and closes it with an outcome.
            sync_now(partner)
            partner.goto(f"/#/meja/{referral_id}")
            expect(partner.locator("#ref-status")).to_contain_text("Dirujuk ke mitra")
            _act(partner, "serve", "Sedang dilayani")
            partner.locator("#desk-actions [data-action=close]").click()
            partner.locator("#outcome").fill(OUTCOME)
            partner.locator("#confirm-action").click()
            expect(partner.locator("#ref-status")).to_contain_text("Selesai")
            sync_now(partner)
            assert _statuses(live_server, referral_id) == [
                ("terkirim", "officer", False), ("dijadwalkan", "ltsa", False),
                ("dirujuk_lanjut", "ltsa", False), ("dilayani", "partner", False),
                ("selesai", "partner", False)]

            # The official's phone is told of each change; the last one is shown.
            changes = _send_pushes(app, receiver, official_push, referral_id)
            assert [c["kind"] for c in changes] == ["status_changed"] * 4
            assert "Selesai" in changes[-1]["body"]
            official.goto("/#/")
            shown = _deliver(official_ctx, official, base_url, changes[-1])
            assert shown["body"] == changes[-1]["body"]
            assert shown["data"]["url"] == f"{base_url}/#/rujukan/{referral_id}"

            # After its next sync the official's phone shows where it went, when, and how
            # it ended.
            sync_now(official)
            official.goto(f"/#/rujukan/{referral_id}")
            expect(official.locator("#ref-org")).to_contain_text(WCC)
            expect(official.locator("#ref-appt")).to_contain_text(PLACE)
            expect(official.locator("#ref-outcome")).to_contain_text(OUTCOME)
    finally:
        for context in (official_ctx, desk_ctx, partner_ctx):
            context.close()
