"""The service worker's web push handlers, in Chromium.

A real message: the server notifies the desk of a referral, the push worker sends it with
pywebpush to a local receiver, which decrypts it; that payload is then delivered to the
service worker through CDP (headless Chromium has no push service). The worker must show
a notification, and a click on it must open the referral.

Headless Chromium cannot click a notification: the click is a `notificationclick` event
dispatched in the worker by the test. That runs the worker's own handler, but as an
untrusted event, so the window's focus (allowed only during a real click) is not tested;
the navigation to the referral is.
"""

import json

import pytest
import sqlalchemy as sa

from server import notify
from server import push_worker
from server.extensions import db
from server.models import Notification
from tests.browser.conftest import log_in
from tests.browser.conftest import wait_for_worker
from tests.browser.ui_helpers import api_headers
from tests.browser.ui_helpers import api_person
from tests.browser.ui_helpers import api_referral
from tests.browser.ui_helpers import registration_id
from tests.browser.ui_helpers import service_worker
from tests.browser.ui_helpers import shown_notifications
from tests.push_receiver import Receiver

pytestmark = pytest.mark.browser
VAPID_SETTINGS = ("VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "VAPID_SUBJECT")


@pytest.fixture
def pushed(live_server):
    """An urgent referral sent by an officer, and the push message the desk's browser got
    for it, decrypted by the receiver."""
    app = live_server.app
    saved = {name: app.config[name] for name in VAPID_SETTINGS}
    private, public = notify.new_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public,
                      VAPID_SUBJECT="mailto:uji@jangkau.test")
    try:
        with Receiver() as receiver, app.app_context():
            client = app.test_client()
            officer = api_headers(client, "perangkat.uji", live_server.password)
            desk = api_headers(client, "ltsa.uji", live_server.password)
            browser = receiver.browser("desk")
            assert client.post("/api/push/subscription", json=browser.subscription(),
                               headers=desk).status_code == 204
            person_id = api_person(client, officer, "Warsini Push", birth_date="1992-03-04")
            referral_id = api_referral(client, officer, person_id, "Uji push", "darurat")
            # Other tests' notifications may be waiting too: send them all.
            while push_worker.send_round().claimed:
                pass
            assert receiver.errors == []
            (payload,) = [p for p in receiver.delivered(browser)
                          if p["referral_id"] == referral_id]
            client.delete("/api/push/subscription", headers=desk)
            db.session.execute(sa.delete(Notification).where(
                Notification.referral_id == referral_id))
            db.session.commit()
            db.session.remove()
    finally:
        app.config.update(saved)
    return referral_id, payload


def test_a_push_shows_a_notification_whose_click_opens_the_referral(
        browser, browser_context_args, base_url, live_server, pushed):
    referral_id, payload = pushed
    assert payload["kind"] == "new_referral" and payload["urgent"] is True
    context = browser.new_context(**browser_context_args)
    try:
        context.grant_permissions(["notifications"], origin=base_url)
        page = context.new_page()
        page.goto("/")
        wait_for_worker(page)
        log_in(page, "ltsa.uji")
        page.goto("/#/")
        cdp = context.new_cdp_session(page)
        registration = registration_id(cdp, page)
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": base_url, "registrationId": registration, "data": json.dumps(payload)})
        (shown,) = shown_notifications(page, lambda shown: shown)
        assert shown["title"] == payload["title"] == "Rujukan baru · DARURAT"
        assert shown["body"] == payload["body"] and shown["lang"] == "id"
        assert shown["icon"] == f"{base_url}/icons/icon-192.png"
        assert shown["tag"] == f"rujukan-{referral_id}"
        assert shown["data"]["url"] == f"{base_url}/#/rujukan/{referral_id}"

        service_worker(context).evaluate("""async () => {
            const [notification] = await self.registration.getNotifications();
            self.dispatchEvent(new NotificationEvent('notificationclick', { notification }));
        }""")
        page.wait_for_url(f"{base_url}/#/rujukan/{referral_id}")
        assert shown_notifications(page, lambda shown: not shown) == []
    finally:
        context.close()


@pytest.mark.parametrize("data, path", [
    ({"referral_id": "0b9a4f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"},
     "/#/rujukan/0b9a4f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
    ({"referral_id": "../../keluar?x=1&y=2&z=3&w=4&v=5&q=6"}, "/"),
    ({"url": "https://contoh.invalid/", "referral_id": None}, "/"),
    ({}, "/"),
    (None, "/"),
])
def test_a_notification_opens_only_a_page_of_the_app(browser, browser_context_args, base_url,
                                                    data, path):
    context = browser.new_context(**browser_context_args)
    try:
        page = context.new_page()
        page.goto("/")
        wait_for_worker(page)
        target = service_worker(context).evaluate("(data) => notificationTarget(data)", data)
        assert target == base_url + path
    finally:
        context.close()
