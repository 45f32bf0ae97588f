"""A day without signal, through the screens: a visit, a person with consent and a referral
made offline survive closing the app, and reach the server exactly once when signal returns."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.models import Consent
from server.models import MigrationPlan
from server.models import OutreachVisit
from server.models import Person
from server.models import Referral
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import new_visit
from tests.browser.ui_helpers import refer
from tests.browser.ui_helpers import register_person
from tests.browser.ui_helpers import sync_now
from tests.browser.ui_helpers import wait_controlled

pytestmark = pytest.mark.browser


def test_offline_work_reaches_the_server_once(context, page, live_server):
    login(page, "perangkat.uji")
    wait_controlled(page)
    context.set_offline(True)
    bar = page.locator("#syncbar")
    expect(bar).to_contain_text("Anda sedang offline — data tersimpan di HP ini")

    new_visit(page, "Sosialisasi offline di balai desa")
    register_person(page, "Tarsih Offline")
    expect(page.get_by_text("★ Anak")).to_have_count(0)
    refer(page, "Ditawari kerja ke Taiwan oleh calo")
    # Only on this phone: a draft referral; what waits (visit, person, consent, plan,
    # referral) is said in words.
    expect(page.get_by_text("Status: Draf")).to_be_visible()
    expect(bar).to_contain_text("5 menunggu dikirim")
    # A form left half-way before the app is closed.
    page.goto("/#/kunjungan/baru")
    page.get_by_label("Dusun/blok").fill("Dusun Setengah")
    page.wait_for_timeout(400)
    page.close()

    # The app opens again without signal: records, outbox and the draft are all there.
    page = context.new_page()
    page.goto("/")
    expect(page.locator("#home-pending")).to_have_text("⬆ 5 menunggu dikirim")
    expect(page.locator("#syncbar")).to_contain_text("offline")
    page.goto("/#/kunjungan")
    waiting = page.locator("a.item", has_text="menunggu dikirim")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Sosialisasi")
    page.goto("/#/kunjungan/baru")
    expect(page.get_by_label("Dusun/blok")).to_have_value("Dusun Setengah")
    page.goto("/#/rujukan")
    expect(page.locator("a.item", has_text="Tarsih Offline")).to_contain_text("Status: Draf")

    context.set_offline(False)
    sync_now(page)
    page.goto("/#/rujukan")
    expect(page.locator("a.item", has_text="Tarsih Offline")).to_contain_text("Status: Terkirim")
    # A second sync sends nothing again.
    sync_now(page)

    # Notes are stored encrypted: read them back and choose in Python, not in SQL.
    visits = [row for row in live_server.query(sa.select(OutreachVisit))
              if row[0].notes == "Sosialisasi offline di balai desa"]
    persons = live_server.query(sa.select(Person).where(Person.name == "Tarsih Offline"))
    assert len(visits) == 1 and len(persons) == 1
    visit, person = visits[0][0], persons[0][0]
    assert (visit.visit_type, visit.rt, visit.participants_male, visit.participants_female) == (
        "sosialisasi", "003", 4, 1)
    assert person.phone == "+6281234567890" and person.lawful_basis == "tugas_publik"
    consents = live_server.query(sa.select(Consent).where(Consent.person_id == person.id))
    referrals = live_server.query(sa.select(Referral).where(Referral.person_id == person.id))
    plans = live_server.query(sa.select(MigrationPlan).where(MigrationPlan.person_id == person.id))
    assert len(consents) == 1
    assert sorted(consents[0][0].purposes) == ["pencatatan", "rujukan_ltsa"]
    assert consents[0][0].method == "centang" and consents[0][0].guardian_name is None
    assert [p[0].destination_country for p in plans] == ["TW"]
    assert len(referrals) == 1
    assert (referrals[0][0].urgency, referrals[0][0].status) == ("segera", "terkirim")
    assert re.fullmatch(r"[0-9a-f-]{36}", referrals[0][0].id)
