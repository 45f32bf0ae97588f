"""The installable app: pwa/ served at /, with a service worker that precaches every file.

The server generates /sw.js from pwa/sw.js: it injects the list of app files, each with a
content hash, and a version made of all of them. Any change of any file therefore gives a
new worker byte for byte, and the phone's copy updates without a build step. Files are read,
hashed and gzipped once per version (mtime and size), so a changed file is seen at once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from werkzeug.routing import PathConverter

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
SW_NAME = "sw.js"
PRECACHE_PLACEHOLDER = "self.__PRECACHE = [];"
DEFAULT_CATALOG = "i18n/id.json"
# Modules of screens only some roles open: reports (the desk, partners, admin), the
# village's data entry and the desk's inbox and referral page. The app fetches a role's
# screens once its user is logged in (pwa/js/app.js keepRoleScreens), so they work offline
# from then on.
ROLE_ONLY = {"js/chart.js", "js/views/visits.js", "js/views/register.js", "js/views/refer.js",
             "js/views/inbox.js", "js/views/desk-referral.js"}
# The screens that work only online (notifications, reports, admin, a person's data), what
# only they use and the menu's links to them: cached when first opened, not fetched by every
# phone at install.
ONLINE_ONLY = frozenset({
    "js/download.js", "js/push.js", "js/admin-forms.js", "js/online.js", "js/ops.js",
    "js/views/notifications.js", "js/views/reports.js", "js/views/admin.js",
    "js/views/person-data.js"})
# The PIN lock and the erasing of this phone's data: loaded by a phone that has a PIN (every
# start, through the worker, which keeps them for offline use) or is told it was revoked
# (online then); most phones never need them.
LOCK_ONLY = frozenset({"js/pin.js", "js/store/lock.js", "js/wipe.js"})
VERSION_PLACEHOLDER = "self.__VERSION = 'dev';"
# Enough of each file's SHA-256 to tell its versions apart; the list goes to every phone.
REVISION_CHARS = 10

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".txt"}

# No inline script or style, nothing from another origin: the app talks only to its server.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
# Only documents and workers obey a CSP or a referrer policy: other files go without them,
# which spares every script and icon some 400 bytes of headers on a slow line.
DOCUMENT_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
}
# index.html and sw.js are checked on every load; the other files may be reused for a few
# minutes, so the worker's install takes the copies the page has just loaded instead of
# asking again (it checks each one against its hash: pwa/sw.js).
NO_CACHE = "no-cache"
ASSET_CACHE = "max-age=300"
NOT_FOUND = "Tidak ditemukan / Not found\n"
# A line holding nothing but a // comment or a one-line /** ... */ comment.
DOC_COMMENT = re.compile(r"^[ \t]*/\*\*?[^*]*(?:\*(?!/)[^*]*)*\*/[ \t]*$")
COMMENT_LINE = re.compile(r"^[ \t]*//.*$|" + DOC_COMMENT.pattern[1:])


class AppPathConverter(PathConverter):
    """A path that is never under /api: unknown API paths keep their JSON 404 and 405."""

    regex = r"(?!api(?:/|$))[^/].*?"


pwa_bp = Blueprint("pwa", __name__)
# The converter must exist before the blueprint's rules are added to the app's map.
pwa_bp.record_once(lambda state: state.app.url_map.converters.setdefault("apppath",
                                                                         AppPathConverter))


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, a gzipped copy when that is smaller, and a hash."""

    body: bytes
    gzipped: bytes | None
    mime: str
    digest: str

    @classmethod
    def build(cls, body: bytes, suffix: str) -> Asset:
        if suffix in (".js", ".mjs"):
            body = blank_comment_lines(body)
        packed = None
        if suffix in COMPRESSIBLE:
            # mtime=0: the same file always gives the same gzip bytes (and ETag).
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            if len(packed) >= len(body):
                packed = None
        return cls(body, packed, MIME_TYPES[suffix], hashlib.sha256(body).hexdigest())


def blank_comment_lines(source: bytes) -> bytes:
    """The script with every line that holds only a comment left empty.

    Comments are a sixth of the app's gzipped bytes, and the phone needs none of them.
    Lines stay where they are, so line numbers in errors still match the source. Lines
    inside a template literal are kept as they are (there they are text); a file whose
    comments do not end where this simple reading expects is served as written.
    """
    out = []
    in_block = in_template = False
    for line in source.decode("utf-8").split("\n"):
        if in_block:
            if "*/" in line:
                if not line.rstrip().endswith("*/") or line.count("*/") > 1:
                    return source
                in_block = False
            out.append("")
        elif in_template:
            out.append(line)
            in_template = line.replace("\\`", "").count("`") % 2 == 0
        elif COMMENT_LINE.match(line):
            out.append("")
        elif line.lstrip().startswith("/*") and "*/" not in line:
            in_block = True
            out.append("")
        elif line.count("/*") != line.count("*/"):
            return source
        else:
            out.append(line)
            in_template = line.replace("\\`", "").count("`") % 2 == 1
    if in_block or in_template:
        return source
    return "\n".join(out).encode("utf-8")


class AppFiles:
    """The files of pwa/, each read once per version; the index and the worker derived."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple, Asset]] = {}
        self._derived: dict[str, tuple[tuple, Asset]] = {}

    def paths(self) -> list[str]:
        """Every servable file as a path relative to the root, sorted; the worker left out."""
        found = []
        for top, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and
                             d != "node_modules")
            for name in files:
                if name.startswith(".") or Path(name).suffix not in MIME_TYPES:
                    continue
                rel = Path(top, name).relative_to(self.root).as_posix()
                if rel != SW_NAME:
                    found.append(rel)
        return sorted(found)

    def _stat_key(self, rel: str) -> tuple | None:
        try:
            st = (self.root / rel).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (rel, st.st_mtime_ns, st.st_size)

    def asset(self, rel: str) -> Asset | None:
        """The file at rel as served, or None when there is no such app file."""
        parts = rel.split("/")
        if any(not p or p.startswith(".") or p == ".." for p in parts):
            return None
        suffix = Path(rel).suffix
        if suffix not in MIME_TYPES or not (self.root / rel).is_file():
            return None
        key = self._stat_key(rel)
        if key is None:
            return None
        cached = self._files.get(rel)
        if cached and cached[0] == key:
            return cached[1]
        asset = Asset.build((self.root / rel).read_bytes(), suffix)
        with self._lock:
            self._files[rel] = (key, asset)
        return asset

    def _derive(self, name: str, key: tuple, make) -> Asset:
        cached = self._derived.get(name)
        if cached and cached[0] == key:
            return cached[1]
        asset = make()
        with self._lock:
            self._derived[name] = (key, asset)
        return asset

    def modules(self) -> list[str]:
        """The URL of every JavaScript module of the app."""
        return [f"/{p}" for p in self.paths() if p.startswith("js/") and p.endswith(".js")]

    def index(self) -> Asset | None:
        """index.html with a modulepreload link for every module, so none waits for another."""
        source = self.asset("index.html")
        if source is None:
            return None
        modules = self.modules()
        return self._derive("index", (source.digest, tuple(modules)),
                            lambda: Asset.build(_inject_head(source.body, modules), ".html"))

    def precache(self) -> list[dict]:
        """[{url, revision}] of every app file, index.html as "/" (where it is served)."""
        entries = []
        for rel in self.paths():
            asset = self.index() if rel == "index.html" else self.asset(rel)
            if asset is not None:
                url = "/" if rel == "index.html" else f"/{rel}"
                entry = {"url": url, "revision": asset.digest[:REVISION_CHARS]}
                if ((rel.startswith("i18n/") and rel != DEFAULT_CATALOG) or rel in ROLE_ONLY
                        or rel in ONLINE_ONLY or rel in LOCK_ONLY):
                    # Another language's words, a module only some roles use, or an
                    # online-only screen: cached when first used, not fetched by every
                    # phone at install (most never switch from Bahasa Indonesia; a village
                    # phone never draws a report).
                    entry["lazy"] = True
                entries.append(entry)
        return entries

    def service_worker(self) -> Asset | None:
        """pwa/sw.js with the precache list and the version injected."""
        template = self.asset(SW_NAME) if (self.root / SW_NAME).is_file() else None
        if template is None:
            return None
        entries = self.precache()
        key = (template.digest, tuple((e["url"], e["revision"]) for e in entries))
        return self._derive("sw", key, lambda: Asset.build(
            _inject_precache(template.body, entries, template.digest), ".js"))


def _inject_head(html: bytes, modules: list[str]) -> bytes:
    text = html.decode("utf-8")
    links = []
    if 'rel="manifest"' not in text:
        links.append('<link rel="manifest" href="/manifest.webmanifest">')
    if 'rel="modulepreload"' not in text:
        links.extend(f'<link rel="modulepreload" href="{url}">' for url in modules)
    if not links or "</head>" not in text:
        return html
    return text.replace("</head>", "\n".join(links) + "\n</head>", 1).encode("utf-8")


def precache_version(entries: list[dict], template_digest: str) -> str:
    """A hash of every file's hash and of the worker itself: any change gives a new one."""
    joined = template_digest + "".join(f"{e['url']}={e['revision']};" for e in entries)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def _inject_precache(template: bytes, entries: list[dict], template_digest: str) -> bytes:
    text = template.decode("utf-8")
    if PRECACHE_PLACEHOLDER not in text or VERSION_PLACEHOLDER not in text:
        raise RuntimeError(f"pwa/sw.js must contain {PRECACHE_PLACEHOLDER!r} and "
                           f"{VERSION_PLACEHOLDER!r} for the server to fill in")
    version = precache_version(entries, template_digest)
    text = text.replace(PRECACHE_PLACEHOLDER,
                        f"self.__PRECACHE = {json.dumps(entries, separators=(',', ':'))};", 1)
    text = text.replace(VERSION_PLACEHOLDER, f"self.__VERSION = '{version}';", 1)
    return text.encode("utf-8")


def app_files() -> AppFiles:
    """The app's AppFiles, made once per Flask app (PWA_DIR may point elsewhere in tests)."""
    ext = current_app.extensions
    if "jangkau_pwa" not in ext:
        ext["jangkau_pwa"] = AppFiles(Path(current_app.config.get("PWA_DIR") or PWA_DIR))
    return ext["jangkau_pwa"]


def _send(asset: Asset | None, *, document: bool = False) -> Response:
    if asset is None:
        return _not_found()
    use_gzip = asset.gzipped is not None and request.accept_encodings["gzip"] > 0
    etag = asset.digest[:32] + ("-gz" if use_gzip else "")
    # X-Content-Type-Options is set on every answer (server.register_headers).
    headers = {"Cache-Control": NO_CACHE if document else ASSET_CACHE}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if document:
        headers.update(DOCUMENT_HEADERS)
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
    else:
        response = Response(asset.gzipped if use_gzip else asset.body, headers=headers,
                            content_type=asset.mime)
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag)
    return response


def _not_found() -> Response:
    return Response(NOT_FOUND, status=404, content_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": NO_CACHE})


@pwa_bp.get("/")
@pwa_bp.get("/index.html")
def index():
    """The app's single page."""
    return _send(app_files().index(), document=True)


@pwa_bp.get("/sw.js")
def service_worker():
    """The service worker with the current precache list."""
    # A worker obeys the CSP of its own script: it may fetch from this origin only.
    return _send(app_files().service_worker(), document=True)


@pwa_bp.get("/<apppath:filename>")
def app_file(filename: str):
    """One file of the app; anything else is a plain 404 (no listing, no HTML)."""
    return _send(app_files().asset(filename))
