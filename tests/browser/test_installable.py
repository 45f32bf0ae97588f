"""The app is installable: Chromium finds no installability error, the manifest and icons hold."""

import json
import struct
import time

import pytest

from server.pwa import PWA_DIR
from tests.browser.conftest import PHONE
from tests.browser.conftest import wait_for_worker

MANIFEST = json.loads((PWA_DIR / "manifest.webmanifest").read_text(encoding="utf-8"))


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_manifest_names_the_app_for_indonesian_phones():
    assert MANIFEST["name"] == "Jangkau — Penjangkauan Migrasi Aman"
    assert MANIFEST["short_name"] == "Jangkau"
    assert MANIFEST["start_url"] == "/" and MANIFEST["scope"] == "/"
    assert MANIFEST["display"] == "standalone" and MANIFEST["lang"] == "id"
    assert MANIFEST["theme_color"].startswith("#") and MANIFEST["background_color"]


def test_icons_exist_in_their_declared_sizes_and_stay_small():
    purposes = set()
    for icon in MANIFEST["icons"]:
        path = PWA_DIR / icon["src"].lstrip("/")
        width, height = png_size(path)
        assert f"{width}x{height}" == icon["sizes"] and icon["type"] == "image/png"
        assert path.stat().st_size < 4096, f"{path.name}: a flat icon should stay tiny"
        purposes.add((width, icon.get("purpose", "any")))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= purposes


@pytest.mark.browser
def test_chromium_reports_no_installability_error(browser_type, browser_type_launch_args,
                                                  base_url, tmp_path):
    # A normal context counts as incognito for this check: it needs a persistent profile.
    context = browser_type.launch_persistent_context(
        str(tmp_path / "profile"), **browser_type_launch_args, viewport=PHONE, base_url=base_url)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto("/")
        wait_for_worker(page)
        cdp = context.new_cdp_session(page)
        deadline = time.monotonic() + 10
        while True:
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            if not errors or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert errors == []
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == []
        assert manifest["url"] == f"{base_url}/manifest.webmanifest"
    finally:
        context.close()
