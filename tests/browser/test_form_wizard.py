"""The shared form wizard (pwa/js/components/form.js) through the visit screen: each step is a
history entry, so the phone's Back goes one step back, also in a form brought back from its
draft; leaving the first step leaves the form."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.ui_helpers import login

pytestmark = pytest.mark.browser


def at_step(page, n: int) -> None:
    expect(page.locator(".stepline")).to_contain_text(f"Langkah {n} dari 2")


def test_the_phones_back_goes_one_step_back(page):
    login(page, "perangkat.uji")
    page.goto("/#/kunjungan/baru")
    page.get_by_label("Sosialisasi", exact=True).check()
    page.get_by_label("Dusun/blok").fill("Dusun Wetan")
    page.get_by_role("button", name="Lanjut").click()
    at_step(page, 2)

    page.go_back()
    at_step(page, 1)
    expect(page).to_have_url(re.compile(r"#/kunjungan/baru$"))
    expect(page.get_by_label("Dusun/blok")).to_have_value("Dusun Wetan")
    page.go_forward()
    at_step(page, 2)
    # The screen's own Kembali is the same step back: the next Back leaves the form.
    page.get_by_role("button", name="Kembali").click()
    at_step(page, 1)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/#/$"))
    expect(page.locator("#st-visits")).to_be_visible()


def test_back_in_a_form_brought_back_from_its_draft(page):
    login(page, "perangkat.uji")
    page.goto("/#/kunjungan/baru")
    page.get_by_label("Sosialisasi", exact=True).check()
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_label("Catatan").fill("Belum selesai")
    # Another screen, then the form again: the draft brings it back at its second step.
    page.goto("/#/kunjungan")
    page.goto("/#/kunjungan/baru")
    expect(page.get_by_text("Isian yang belum disimpan dimuat kembali.")).to_be_visible()
    at_step(page, 2)
    expect(page.get_by_label("Catatan")).to_have_value("Belum selesai")

    page.go_back()
    at_step(page, 1)
    expect(page.get_by_label("Sosialisasi", exact=True)).to_be_checked()
