"""Screenshots at 360×640 for docs/screenshots/: the village official's home and visit form,
the LTSA desk's inbox, a referral's page and a report; and the size of the first load of
the login screen (gzip bytes over the wire).

    .venv/bin/python bench/screenshots.py

Runs the app on a temporary SQLite database with the demo data, logs in as the demo
officer of Waled Desa, then as the LTSA desk, and drives Debian's Chromium
(/usr/bin/chromium).
"""

import logging
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import expect
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server import create_app  # noqa: E402
from server.demo import DEMO_PASSWORD  # noqa: E402
from server.demo import load_demo  # noqa: E402
from server.extensions import db  # noqa: E402
from server.regions import load_regions  # noqa: E402
from server.seed import ensure_organisations  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
# The sync bar once a sync has succeeded.
SYNCED = re.compile(r"Semua sudah terkirim · \d|Terakhir tersinkron")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True,
         "locale": "id-ID", "timezone_id": "Asia/Jakarta"}


def serve(tmp: Path) -> tuple[str, object]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'demo.sqlite'}"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        load_regions(db.session)
        ensure_organisations(db.session)
        load_demo(db.session)
        db.session.commit()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jangkau-shots-"))
    base, server = serve(tmp)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=base, **PHONE)
            page = context.new_page()
            sizes = {}
            page.on("requestfinished",
                    lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
            page.goto("/")
            expect(page.get_by_role("button", name="Masuk")).to_be_visible()
            page.wait_for_load_state("networkidle")
            print(f"first load of the login screen: {sum(sizes.values())} bytes "
                  f"in {len(sizes)} files")

            page.get_by_label("Nama pengguna").fill("perangkat.waled")
            page.get_by_label("Kata sandi").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Masuk").click()
            expect(page.locator("#syncbar")).to_contain_text(SYNCED,
                                                             timeout=30000)
            page.wait_for_timeout(500)
            page.screenshot(path=OUT / "home.png")
            page.goto("/#/kunjungan/baru")
            page.get_by_label("Sosialisasi").check()
            page.wait_for_timeout(300)
            page.screenshot(path=OUT / "visit-form.png")
            desk_screens(browser, base)
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} in {OUT}")


def desk_screens(browser, base: str) -> None:
    """The LTSA desk: its inbox, the first referral's page, and the report."""
    context = browser.new_context(base_url=base, **PHONE)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Nama pengguna").fill("ltsa.cirebon")
    page.get_by_label("Kata sandi").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.locator("#syncbar")).to_contain_text(SYNCED, timeout=30000)
    page.goto("/#/meja")
    first = page.locator("a.item").first
    expect(first).to_be_visible()
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / "desk-inbox.png")
    first.click()
    expect(page.locator("#main h2, #main .card").first).to_be_visible()
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / "desk-referral.png")
    page.goto("/#/laporan")
    chart = page.locator("#main svg").first
    expect(chart).to_be_visible(timeout=30000)
    # The first table's heading, its chart and the table under it.
    chart.evaluate("(svg) => svg.closest('section, .card, div').scrollIntoView()")
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / "report.png")
    context.close()


if __name__ == "__main__":
    main()
