"""The service worker: a precache of every app file, a new worker for any change, offline reload.

The first tests use the Flask test client on a copy of pwa/ (no browser); the last ones drive
Chromium against the live server.
"""

import gzip
import json
import re
import shutil

import pytest

from server import create_app
from server.pwa import LOCK_ONLY
from server.pwa import ONLINE_ONLY
from server.pwa import PWA_DIR
from server.pwa import AppFiles
from tests.browser.conftest import wait_for_worker

PRECACHE_RE = re.compile(r"self\.__PRECACHE = (\[.*?\]);")
VERSION_RE = re.compile(r"self\.__VERSION = '([0-9a-f]+)';")


@pytest.fixture
def pwa_copy(tmp_path):
    """A copy of pwa/ that a test may change."""
    copy = tmp_path / "pwa"
    shutil.copytree(PWA_DIR, copy, ignore=shutil.ignore_patterns("node_modules", ".*"))
    return copy


@pytest.fixture
def pwa_client(pwa_copy):
    """A test client of an app serving the copy (no database is touched)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True,
                      "PWA_DIR": str(pwa_copy)})
    return app.test_client()


def worker(client) -> tuple[list[dict], str, bytes]:
    body = client.get("/sw.js").data
    text = body.decode()
    return json.loads(PRECACHE_RE.search(text).group(1)), VERSION_RE.search(text).group(1), body


def app_files(root) -> set[str]:
    """Every file the app is made of, as the URL the worker caches."""
    out = set()
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".js", ".css", ".json", ".webmanifest",
                                              ".png", ".svg"} and path.name != "sw.js":
            rel = path.relative_to(root).as_posix()
            out.add("/" if rel == "index.html" else f"/{rel}")
    return out


def test_precache_lists_every_app_file_with_its_hash(pwa_client, pwa_copy):
    entries, version, _ = worker(pwa_client)
    urls = {e["url"] for e in entries}
    assert urls == app_files(pwa_copy)
    assert {"/", "/manifest.webmanifest", "/js/db.js", "/js/sync-client.js",
            "/icons/icon-192.png", "/icons/icon-512.png"} <= urls
    assert all(re.fullmatch(r"[0-9a-f]{10}", e["revision"]) for e in entries)
    assert len({e["revision"] for e in entries}) == len(entries)
    assert re.fullmatch(r"[0-9a-f]{16}", version)


def test_only_other_languages_and_role_screens_wait_to_be_used(pwa_client):
    entries, _, _ = worker(pwa_client)
    lazy = {e["url"] for e in entries if e.get("lazy")}
    # The login screen and what every role needs offline come at install; a role's own
    # screens once its user has logged in (pwa/js/app.js keepRoleScreens).
    # The online-only screens (notifications, reports, admin) once first opened.
    assert lazy == {"/i18n/en.json", "/js/chart.js", "/js/views/visits.js",
                    "/js/views/register.js", "/js/views/refer.js", "/js/views/inbox.js",
                    "/js/views/desk-referral.js", *(f"/{rel}" for rel in ONLINE_ONLY),
                    *(f"/{rel}" for rel in LOCK_ONLY)}
    assert "/js/views/menu.js" not in lazy


@pytest.mark.parametrize("changed", ["js/db.js", "manifest.webmanifest", "index.html",
                                     "icons/icon-192.png"])
def test_changing_any_app_file_gives_a_new_worker(pwa_client, pwa_copy, changed):
    entries, version, body = worker(pwa_client)
    assert worker(pwa_client)[2] == body, "the same files must give the same worker"
    path = pwa_copy / changed
    path.write_bytes(path.read_bytes() + b"\n")
    new_entries, new_version, new_body = worker(pwa_client)
    assert new_body != body and new_version != version
    url = "/" if changed == "index.html" else f"/{changed}"
    before = {e["url"]: e["revision"] for e in entries}
    after = {e["url"]: e["revision"] for e in new_entries}
    assert [u for u in after if after[u] != before[u]] == [url]


def without_preloads(pwa_copy) -> None:
    """Make the copy's index.html list no modulepreload, so the server adds them."""
    index = pwa_copy / "index.html"
    lines = index.read_text().splitlines(keepends=True)
    index.write_text("".join(line for line in lines if 'rel="modulepreload"' not in line))


def preloads(html: str) -> set[str]:
    return set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html.split("</head>")[0]))


def test_a_new_file_is_precached_and_preloaded(pwa_client, pwa_copy):
    without_preloads(pwa_copy)
    (pwa_copy / "js" / "views" / "extra.js").write_text("export const x = 1;\n")
    entries, _, _ = worker(pwa_client)
    assert "/js/views/extra.js" in {e["url"] for e in entries}
    assert "/js/views/extra.js" in preloads(pwa_client.get("/").data.decode())


def test_index_preloads_every_module_and_links_the_manifest(pwa_client, pwa_copy):
    without_preloads(pwa_copy)
    html = pwa_client.get("/").data.decode()
    modules = {f"/{p.relative_to(pwa_copy).as_posix()}" for p in (pwa_copy / "js").rglob("*.js")}
    assert preloads(html) == modules
    assert 'rel="manifest"' in html.split("</head>")[0]
    assert "<script>" not in html, "no inline script: the CSP forbids it"


def test_an_index_that_lists_its_preloads_is_served_as_written(pwa_client, pwa_copy):
    index = pwa_copy / "index.html"
    source = index.read_text()
    line = '<link rel="modulepreload" href="/js/app.js">\n'
    if 'rel="modulepreload"' not in source:
        index.write_text(source.replace("</head>", line + "</head>"))
    assert pwa_client.get("/").data == index.read_bytes()


@pytest.mark.parametrize(("path", "mime", "document"), [
    ("/", "text/html; charset=utf-8", True),
    ("/sw.js", "text/javascript; charset=utf-8", True),
    ("/js/db.js", "text/javascript; charset=utf-8", False),
    ("/manifest.webmanifest", "application/manifest+json", False),
    ("/icons/icon-512.png", "image/png", False),
])
def test_files_are_served_with_type_gzip_etag_and_security_headers(pwa_client, path, mime,
                                                                   document):
    plain = pwa_client.get(path)
    packed = pwa_client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.status_code == packed.status_code == 200
    assert plain.headers["Content-Type"] == mime
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    if document:
        # The page and the worker are checked on every load and carry the policies.
        assert plain.headers["Cache-Control"] == "no-cache"
        assert plain.headers["Referrer-Policy"] == "no-referrer"
        csp = plain.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp
        assert "script-src 'self'" in csp and "img-src 'self' data:" in csp
        assert "manifest-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    else:
        assert plain.headers["Cache-Control"] == "max-age=300"
    if mime.startswith(("text/", "application/")):
        assert packed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed.data) == plain.data
        assert plain.headers["Vary"] == "Accept-Encoding"
    again = pwa_client.get(path, headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("path", ["/nope", "/js/", "/js", "/icons/", "/../server/pwa.py",
                                  "/js/../index.html", "/.git/config", "/js/db.js.bak"])
def test_unknown_paths_are_a_plain_404(pwa_client, path):
    response = pwa_client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert b"<" not in response.data


def test_api_paths_keep_their_json_errors(pwa_client):
    assert pwa_client.get("/api/nope").is_json
    assert pwa_client.get("/api/nope").status_code == 404
    assert pwa_client.delete("/api/sync").status_code == 405
    assert pwa_client.get("/healthz").is_json


def test_worker_template_needs_its_placeholders(pwa_copy):
    sw = pwa_copy / "sw.js"
    sw.write_text(sw.read_text().replace("self.__PRECACHE = [];", "self.__PRECACHE = [ ];"))
    with pytest.raises(RuntimeError, match="__PRECACHE"):
        AppFiles(pwa_copy).service_worker()


# --- in Chromium ---------------------------------------------------------------------


@pytest.mark.browser
def test_reload_without_signal_serves_the_app_from_the_worker(page, context):
    page.goto("/")
    wait_for_worker(page)
    requests, responses = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: responses.append(r))
    context.set_offline(True)
    page.reload()
    page.wait_for_function("() => document.querySelector('#main') !== null")
    assert page.evaluate("document.documentElement.lang") == "id"
    # The modules load from the worker's cache, and one can be used.
    assert page.evaluate("async () => typeof (await import('/js/db.js')).getSession") == \
        "function"
    by_url = {r.url.split("/", 3)[3]: r for r in responses}
    assert by_url[""].from_service_worker and by_url[""].status == 200
    assert by_url["js/app.js"].from_service_worker
    assert [u for u in requests if "/api/" in u] == []
    assert page.evaluate("navigator.onLine") is False


@pytest.mark.browser
def test_a_changed_app_file_offers_the_update(page, live_server):
    page.goto("/")
    wait_for_worker(page)
    old_cache = page.evaluate("async () => (await caches.keys()).filter((k) => "
                              "k.startsWith('jangkau-'))")
    target = live_server.pwa_dir / "js" / "hlc.js"
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\nexport const UPDATED_IN_TEST = true;\n")
        page.reload()
        offered = page.evaluate("""() => new Promise(async (resolve) => {
            const bridge = await import('/js/sw-bridge.js');
            setTimeout(() => resolve(null), 10000);
            bridge.registerServiceWorker({ onUpdate: (apply) => {
                window.__apply = apply;
                resolve(true);
            } });
        })""")
        assert offered is True
        assert page.evaluate("async () => !!(await navigator.serviceWorker.getRegistration())"
                             ".waiting")
        # apply(): the waiting worker takes over and the page reloads once, on the new files.
        with page.expect_navigation():
            page.evaluate("window.__apply()")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        caches = page.evaluate("async () => (await caches.keys()).filter((k) => "
                               "k.startsWith('jangkau-'))")
        assert len(caches) == 1 and caches != old_cache
        served = page.evaluate("async () => (await (await caches.open((await caches.keys())"
                               ".find((k) => k.startsWith('jangkau-')))).match('/js/hlc.js'))"
                               ".text()")
        assert served.endswith("export const UPDATED_IN_TEST = true;\n")
    finally:
        target.write_bytes(original)


BLANKING = [
    ("// why\nconst a = 1; // kept\n  /** doc */\nexport { a };\n",
     "\nconst a = 1; // kept\n\nexport { a };\n"),
    ("/**\n * a block\n */\nconst b = 2;\n", "\n\n\nconst b = 2;\n"),
    ("const t = `line\n// text, not a comment\n`;\n// gone\n",
     "const t = `line\n// text, not a comment\n`;\n\n"),
    ("const c = 3; /* inline */\n", "const c = 3; /* inline */\n"),
    ("const d = '/*';\n// stays: the file is served as written\n",
     "const d = '/*';\n// stays: the file is served as written\n"),
]


@pytest.mark.parametrize(("source", "served"), BLANKING)
def test_comment_lines_are_blanked_keeping_line_numbers(source, served):
    from server.pwa import blank_comment_lines

    assert blank_comment_lines(source.encode()).decode() == served


def test_every_served_script_still_parses(pwa_client, pwa_copy):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: cannot parse the served scripts")
    import subprocess

    scripts = ["/sw.js"] + [f"/{p.relative_to(pwa_copy).as_posix()}"
                            for p in sorted(pwa_copy.rglob("*.js")) if p.name != "sw.js"]
    for url in scripts:
        served = pwa_client.get(url).data
        check = subprocess.run([node, "--input-type=module", "--check"], input=served,
                               capture_output=True, check=False)
        assert check.returncode == 0, (url, check.stderr.decode()[-500:])
        if url != "/sw.js":
            source = (pwa_copy / url.lstrip("/")).read_bytes()
            assert served.count(b"\n") == source.count(b"\n"), url
