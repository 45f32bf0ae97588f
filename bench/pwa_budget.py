"""PWA budget: what a phone downloads to open Jangkau the first time, and again.

    .venv/bin/python bench/pwa_budget.py                  # 3 runs + Lighthouse (about 1 min)
    .venv/bin/python bench/pwa_budget.py --runs 5 --no-lighthouse

The app is served from pwa/ by the real server (werkzeug in a thread, a throw-away SQLite
database). Each run opens the login screen in a fresh Chromium context (360x640) and waits
until the service worker controls the page, i.e. until it has precached the whole app;
then it opens the app again in the same context (the repeat visit).

Bytes are counted two ways:
- server: every byte of every response body as sent (gzip where the browser asked for it),
  per file, plus the response headers; this includes the service worker's own fetches;
- Chromium: the encoded (on-the-wire) length of each finished request, as DevTools reports
  it (`request.sizes()`), for the page and for the service worker.

Lighthouse 12 (`npm i` in bench/, CHROME_PATH=/usr/bin/chromium, mobile profile) gives the
performance and accessibility scores; it is skipped with a line saying so when it is not
installed. Budget: first load <= 60 KB, no app file fetched on the repeat visit, Lighthouse
performance and accessibility >= 95. Figures are medians of --runs runs. The script prints
the figures and verdicts; it exits 1 only when a run fails (or with --strict, over budget).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402

from server import create_app  # noqa: E402
from server.extensions import db  # noqa: E402
from server.pwa import PWA_DIR  # noqa: E402
from server.pwa import AppFiles  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LIGHTHOUSE = ROOT / "bench" / "node_modules" / ".bin" / "lighthouse"
BUDGET_FIRST_LOAD = 60 * 1024
BUDGET_SCORE = 95
APP_SUFFIXES = (".html", ".js", ".css", ".json", ".webmanifest", ".png", ".svg")
# The offline platform's files (and pwa/js/store/); everything else is the screens'.
PLATFORM = {"/sw.js", "/manifest.webmanifest", "/js/api.js", "/js/db.js", "/js/hlc.js",
            "/js/merge.js", "/js/sync-client.js", "/js/sw-bridge.js", "/js/uuid.js"}


@dataclass
class Sent:
    path: str
    status: int
    body: int
    headers: int
    encoding: str


@dataclass
class Counter:
    """A WSGI wrapper that records what the server sends, response by response."""

    app: object
    log: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        meta = {}

        def start(status, headers, exc_info=None):
            meta["status"] = int(status.split()[0])
            meta["encoding"] = dict((k.lower(), v) for k, v in headers).get("content-encoding",
                                                                             "")
            # The status line and header lines as they go out, plus Date and Server that
            # werkzeug adds (about 70 bytes).
            meta["headers"] = len(status) + 11 + sum(len(k) + len(v) + 4 for k, v in headers) + 72
            return start_response(status, headers, exc_info)

        body = 0
        for chunk in self.app(environ, start):
            body += len(chunk)
            yield chunk
        with self.lock:
            self.log.append(Sent(environ["PATH_INFO"], meta["status"], body, meta["headers"],
                                 meta["encoding"]))

    def take(self) -> list[Sent]:
        with self.lock:
            out, self.log = self.log, []
        return out


def is_app_file(path: str) -> bool:
    return path == "/" or (path.endswith(APP_SUFFIXES) and not path.startswith("/api/"))


def serve(tmp: Path):
    """The real app on 127.0.0.1:<free port> with an empty migrated database."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite'}"})
    with app.app_context():
        from flask_migrate import upgrade

        logging.getLogger("alembic").setLevel(logging.WARNING)
        upgrade()
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    counter = Counter(app.wsgi_app)
    app.wsgi_app = counter
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counter


def one_run(browser, base: str, counter: Counter) -> dict:
    """First visit until the worker controls the page, then a repeat visit."""
    context = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True,
                                  has_touch=True, locale="id-ID")
    chromium: list[tuple[str, bool, int]] = []

    def finished(request):
        sizes = request.sizes()
        url = request.url[len(base):] or "/"
        chromium.append((url, request.service_worker is not None,
                         max(sizes["responseBodySize"], 0) + max(sizes["responseHeadersSize"], 0)))

    context.on("requestfinished", finished)
    try:
        page = context.new_page()
        counter.take()
        started = time.perf_counter()
        page.goto(base + "/", wait_until="load")
        page.wait_for_function("() => document.querySelector('form') !== null", timeout=15000)
        shown_ms = (time.perf_counter() - started) * 1000
        page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                               timeout=20000)
        # Let the install's last responses and the manifest fetch finish.
        page.wait_for_timeout(500)
        first = counter.take()
        first_chromium = list(chromium)
        chromium.clear()
        page.goto(base + "/", wait_until="load")
        page.wait_for_function("() => document.querySelector('form') !== null", timeout=15000)
        page.wait_for_timeout(500)
        repeat = counter.take()
    finally:
        context.close()
    return {"first": first, "first_chromium": first_chromium, "repeat": repeat,
            "repeat_chromium": list(chromium), "shown_ms": shown_ms}


def lighthouse(base: str, out_dir: Path, runs: int) -> tuple[list[float], list[float]] | str:
    """Performance and accessibility scores (0-100) of each run, or why there are none."""
    if not LIGHTHOUSE.exists() or shutil.which("node") is None:
        return "Lighthouse skipped: not installed (cd bench && npm i -E lighthouse@12.2.3)"
    perf, a11y = [], []
    env = dict(os.environ, CHROME_PATH=CHROMIUM)
    for i in range(runs):
        report = out_dir / f"lighthouse-{i}.json"
        done = subprocess.run(
            [str(LIGHTHOUSE), base + "/", "--quiet", "--output=json", f"--output-path={report}",
             "--only-categories=performance,accessibility", "--form-factor=mobile",
             "--chrome-flags=--headless=new --no-sandbox --disable-gpu"],
            env=env, capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0 or not report.exists():
            return f"Lighthouse failed: {(done.stderr or done.stdout).strip()[-300:]}"
        categories = json.loads(report.read_text())["categories"]
        perf.append(categories["performance"]["score"] * 100)
        a11y.append(categories["accessibility"]["score"] * 100)
    return perf, a11y


def kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-lighthouse", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when over budget")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print("Chromium not installed: apt-get install chromium")
        return 1
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="jangkau-budget-"))
    server, counter = serve(tmp)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                runs = [one_run(browser, base, counter) for _ in range(args.runs)]
            finally:
                browser.close()
        scores = None if args.no_lighthouse else lighthouse(base, tmp, args.runs)
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(tmp, ignore_errors=True)
    return report(runs, scores, args)


def report(runs: list[dict], scores, args) -> int:
    med = statistics.median
    # Per file, first visit: page and worker requests together (a file may come twice:
    # the page's download and the worker's check).
    per_file: dict[str, list[int]] = defaultdict(list)
    per_file_requests: dict[str, list[int]] = defaultdict(list)
    for run in runs:
        bodies: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for sent in run["first"]:
            bodies[sent.path] += sent.body
            counts[sent.path] += 1
        for path in set(bodies) | set(per_file):
            per_file[path].append(bodies.get(path, 0))
            per_file_requests[path].append(counts.get(path, 0))
    files = AppFiles(PWA_DIR)
    print(f"Jangkau PWA budget — medians of {len(runs)} runs, Chromium "
          f"{'(page + service worker)'}\n")
    print(f"{'file':34} {'raw':>9} {'gzip':>9} {'sent (1st visit)':>17} {'requests':>9}")
    for path in sorted(per_file, key=lambda p: -med(per_file[p])):
        rel = "index.html" if path == "/" else path.lstrip("/")
        asset = files.index() if rel == "index.html" else (
            files.service_worker() if rel == "sw.js" else files.asset(rel))
        raw = kb(len(asset.body)) if asset else "-"
        packed = kb(len(asset.gzipped or asset.body)) if asset else "-"
        print(f"{path:34} {raw:>9} {packed:>9} {kb(med(per_file[path])):>17} "
              f"{med(per_file_requests[path]):>9g}")

    def totals(run: dict, key: str) -> tuple[int, int]:
        app = [s for s in run[key] if is_app_file(s.path)]
        return sum(s.body for s in app), sum(s.headers for s in app)

    first_body = med([totals(r, "first")[0] for r in runs])
    first_headers = med([totals(r, "first")[1] for r in runs])
    page_only = med([sum(size for _, from_sw, size in r["first_chromium"] if not from_sw)
                     for r in runs])
    with_worker = med([sum(size for _, _, size in r["first_chromium"]) for r in runs])
    whole_app = sum(len(a.gzipped or a.body) for a in
                    [files.index(), files.service_worker()] +
                    [files.asset(p) for p in files.paths() if p != "index.html"])
    repeat_app = med([sum(1 for s in r["repeat"] if is_app_file(s.path) and s.path != "/sw.js")
                      for r in runs])
    repeat_sw = med([sum(1 for s in r["repeat"] if s.path == "/sw.js") for r in runs])
    repeat_bytes = med([sum(s.body + s.headers for s in r["repeat"]) for r in runs])
    shown = med([r["shown_ms"] for r in runs])

    platform = med([sum(s.body for s in r["first"] if s.path in PLATFORM
                        or s.path.startswith(("/icons/", "/js/store/"))) for r in runs])
    over = []
    budget = kb(BUDGET_FIRST_LOAD)
    print()
    print(f"whole app, every file gzipped once:        {kb(whole_app):>10}")
    print(f"first visit, all app files (page + worker): {kb(first_body):>9}   budget "
          f"{budget}: {verdict(first_body <= BUDGET_FIRST_LOAD, over, 'first visit')}"
          f"  (platform {kb(platform)}, screens {kb(first_body - platform)}; "
          f"+ {kb(first_headers)} of HTTP/1.1 headers)")
    print(f"login screen, the page's own requests:     {kb(page_only):>10}   budget "
          f"{budget}: {verdict(page_only <= BUDGET_FIRST_LOAD, over, 'login screen')}"
          f"  (Chromium encoded sizes, headers included; all requests {kb(with_worker)})")
    print(f"login screen shown after (loopback):       {shown:>7.0f} ms")
    print(f"repeat visit: app files from the network:  {repeat_app:>10g}   budget 0: "
          f"{verdict(repeat_app == 0, over, 'repeat visit')}  "
          f"(+ {repeat_sw:g} sw.js update check by the browser; {kb(repeat_bytes)} in all)")
    if scores is None:
        print("Lighthouse: not run (--no-lighthouse)")
    elif isinstance(scores, str):
        print(scores)
    else:
        perf, a11y = scores
        print(f"Lighthouse 12 mobile, performance:         {med(perf):>10.0f}   budget "
              f"{BUDGET_SCORE}: {verdict(med(perf) >= BUDGET_SCORE, over, 'performance')}  "
              f"(runs: {', '.join(f'{p:.0f}' for p in perf)})")
        print(f"Lighthouse 12 mobile, accessibility:       {med(a11y):>10.0f}   budget "
              f"{BUDGET_SCORE}: {verdict(med(a11y) >= BUDGET_SCORE, over, 'accessibility')}  "
              f"(runs: {', '.join(f'{a:.0f}' for a in a11y)})")
    if over:
        print(f"\nOver budget: {', '.join(over)}")
    return 1 if (over and args.strict) else 0


def verdict(ok: bool, over: list[str], name: str) -> str:
    if not ok:
        over.append(name)
    return "ok" if ok else "OVER"


if __name__ == "__main__":
    sys.exit(main())
