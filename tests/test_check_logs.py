"""tools/check_logs.py finds NIKs and phone numbers in a log without echoing them, and the
servers' request logs keep no query string."""

import logging
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from server.logs import strip_query
from tools.check_logs import findings

ROOT = Path(__file__).resolve().parent.parent
NIK = "3209014101900001"
PHONE = "081234567890"

FOUND = [
    (f"nik={NIK}", {"NIK"}),
    (f'"GET /x HTTP/1.1" 200 {NIK}', {"NIK"}),
    ("NIK 3209 0141 0190 0001", {"NIK"}),
    ("NIK 32.09.01.410190.0001", {"NIK"}),
    ("NIK 3209-0141-0190-0001", {"NIK"}),
    (f"phone {PHONE}", {"phone"}),
    ("phone 0812-3456-7890", {"phone"}),
    ("phone +62 812 3456 7890", {"phone"}),
    ("phone 6281234567890", {"phone"}),
    ("/api/x?hp=%2B6281234567890", {"phone"}),
    (f'{{"nik": "{NIK}", "phone": "+6281234567890"}}', {"NIK", "phone"}),
]
CLEAN = [
    '127.0.0.1 "GET /api/persons/3f1e0c1a-0812-4222-8333-320901410190" 200',
    "2026-12-01 18:16:19,833 INFO alembic: Running upgrade 7f48bbfeddf2 -> 3a9c5e1f7b20",
    "desa 32.09.01.2008 32.09.02.2008",
    "2**53 is 9007199254740992, 2**64 is 18446744073709551616",
    "server_time_ms 1790000000000 wall 1790000005000",
    "error id 0a1b2c3d4e5f, took 0.081234 s",
    "16 digits that cannot be a NIK: 1234567890123456 (month 90)",
    "too short for a phone: 08123456",
]


@pytest.mark.parametrize(("line", "kinds"), FOUND + [(line, set()) for line in CLEAN])
def test_findings(line, kinds):
    assert findings(line) == kinds


def _check(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "check_logs.py"), *args],
                          capture_output=True, text=True, timeout=60)


def test_the_checker_fails_on_a_planted_nik_naming_the_line_not_the_value(tmp_path):
    log = tmp_path / "suite.log"
    lines = [*CLEAN, f'INFO werkzeug: "POST /api/persons/duplicates?nik={NIK} HTTP/1.1" 200',
             *CLEAN, f"ERROR server: Failing row contains (Siti, {PHONE})"]
    log.write_text("\n".join(lines) + "\n")
    result = _check(str(log), "--expect-requests")
    assert result.returncode == 1
    assert f"suite.log:{len(CLEAN) + 1}: NIK in this line" in result.stdout
    assert f"suite.log:{len(lines)}: phone in this line" in result.stdout
    assert "2 with a NIK or phone number" in result.stdout
    assert NIK not in result.stdout + result.stderr
    assert PHONE not in result.stdout + result.stderr and "Siti" not in result.stdout


def test_the_checker_passes_a_clean_log_and_fails_one_without_requests(tmp_path):
    log = tmp_path / "suite.log"
    quiet = [line for line in CLEAN if '"GET' not in line]
    log.write_text("\n".join(quiet) + "\n")
    assert _check(str(log)).returncode == 0
    assert _check(str(log), "--expect-requests").returncode == 1  # no "GET /…" line
    log.write_text("\n".join([*quiet, 'INFO x: "GET /api/persons" 200']) + "\n")
    assert _check(str(log), "--expect-requests").returncode == 0
    assert _check(str(tmp_path / "missing.log")).returncode == 2


@pytest.mark.parametrize(("line", "kept"), [
    ('"GET /api/persons?q=rahasia&page=2 HTTP/1.1" 200 -', '"GET /api/persons HTTP/1.1" 200 -'),
    ("code 400, message Bad request syntax ('GET /x?nik=1 HTTP/1.1')",
     "code 400, message Bad request syntax ('GET /x HTTP/1.1')"),
    ('"POST /api/sync HTTP/1.1" 200 -', '"POST /api/sync HTTP/1.1" 200 -'),
])
def test_query_strings_are_stripped(line, kept):
    assert strip_query(line) == kept


def test_gunicorn_logs_paths_without_query_strings():
    settings: dict = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), settings)
    fmt = settings["access_log_format"]
    assert "%(U)s" in fmt
    # %(r)s is the request line with its query, %(q)s the query, %(f)s the Referer.
    assert not any(atom in fmt for atom in ("%(r)s", "%(q)s", "%(f)s"))
    assert "gunicorn.conf.py" in (ROOT / "Procfile").read_text()


def test_the_development_server_logs_the_path_without_its_query(app, caplog):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.server_port}/healthz?cari=rahasia"
            with urllib.request.urlopen(url, timeout=30) as response:
                assert response.status == 200
            server.shutdown()
    finally:
        thread.join(10)
        server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in lines), lines
    assert not any("rahasia" in line for line in lines)
