"""pwa/js/sync-client.js and db.js in Chromium against the real server: exactly once, offline."""

import datetime as dt
import gzip
import json
import uuid

import pytest
import sqlalchemy as sa

from server.models import OutreachVisit
from server.models import SyncClient
from tests.browser.conftest import DESA_A
from tests.browser.conftest import log_in
from tests.browser.conftest import wait_for_worker

pytestmark = pytest.mark.browser

WIB = dt.timezone(dt.timedelta(hours=7))


def visit_fields(**changes) -> dict:
    """A valid visit of yesterday (the server refuses dates after today in WIB)."""
    day = dt.datetime.now(WIB).date() - dt.timedelta(days=1)
    return {"visit_type": "sosialisasi", "visit_date": day.isoformat(), "desa_code": DESA_A,
            "dusun": "Dusun Kliwon", "rt": "2", "rw": "001", "topics": ["prosedur_resmi"],
            "participants_male": 4, "participants_female": 11, "participants_children": 2,
            "notes": "Sosialisasi di balai desa"} | changes


def save_visit(page, record_id: str, fields: dict) -> dict:
    return page.evaluate(
        "async ([id, fields]) => (await import('/js/db.js')).saveEdit('visits', id, fields)",
        [record_id, fields])


def call(page, module: str, expression: str):
    """Evaluate `expression` with the module bound to `m`."""
    return page.evaluate(f"async () => {{ const m = await import('/js/{module}.js'); "
                         f"return {expression}; }}")


def visit_rows(live_server, record_id: str) -> int:
    return live_server.query(sa.select(sa.func.count()).select_from(OutreachVisit)
                             .where(OutreachVisit.id == record_id))[0][0]


def test_visit_made_offline_survives_a_reload_and_arrives_once(page, context, live_server):
    page.goto("/")
    wait_for_worker(page)
    log_in(page, "perangkat.uji")
    record_id = str(uuid.uuid4())
    context.set_offline(True)
    local = save_visit(page, record_id, visit_fields())
    assert local["pending"] is True and local["rt"] == "2"
    assert call(page, "db", "m.pendingCount()") == 1

    page.reload()
    assert call(page, "db", "m.pendingCount()") == 1
    assert call(page, "db", f"m.getRecord('visits', '{record_id}')")["pending"] is True
    assert visit_rows(live_server, record_id) == 0
    status = call(page, "sync-client", "m.syncNow()")
    assert status["online"] is False and status["pending"] == 1
    assert status["lastError"]["id"].startswith("Tidak ada sinyal")

    context.set_offline(False)
    page.evaluate("""() => { window.__statuses = [];
        addEventListener('jangkau:status', (e) => window.__statuses.push(e.detail)); }""")
    status = call(page, "sync-client", "m.syncNow()")
    assert status["pending"] == 0 and status["lastError"] is None and status["lastSync"]
    assert visit_rows(live_server, record_id) == 1
    record = call(page, "db", f"m.getRecord('visits', '{record_id}')")
    # The server's copy replaced the local one: normalised, clocked, no longer pending.
    assert record["pending"] is False and record["rt"] == "002"
    assert set(record["_clocks"]) >= set(visit_fields())
    listed = call(page, "db", "m.listRecords('visits')")
    assert record_id in [r["id"] for r in listed]
    latest = [max(r["_clocks"].values()) for r in listed]
    assert latest == sorted(latest, reverse=True), "newest first"
    statuses = page.evaluate("window.__statuses")
    assert any(s["syncing"] for s in statuses) and statuses[-1]["syncing"] is False


def test_retry_after_a_lost_answer_leaves_one_row(page, live_server):
    page.goto("/")
    session = log_in(page, "perangkat.dua")
    record_id = str(uuid.uuid4())
    save_visit(page, record_id, visit_fields(notes="Jawaban pertama hilang"))
    answers = []

    def lose_first_answer(route):
        # The server handles the request; the phone never hears back.
        response = route.fetch()
        answers.append(response.json())
        if len(answers) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route("**/api/sync", lose_first_answer)
    status = call(page, "sync-client", "m.syncNow()")
    assert status["pending"] == 1 and status["lastError"] is not None
    assert answers[0]["applied"] == [1]
    assert visit_rows(live_server, record_id) == 1

    status = call(page, "sync-client", "m.syncNow()")
    assert status["pending"] == 0 and status["lastError"] is None
    assert answers[1]["skipped"] == [1] and answers[1]["applied"] == []
    assert visit_rows(live_server, record_id) == 1
    client = live_server.query(sa.select(SyncClient.last_mutation_id)
                               .where(SyncClient.client_id == session["clientId"]))
    assert client == [(1,)]


def test_invalid_mutation_is_set_aside_and_the_rest_is_sent(page, live_server):
    page.goto("/")
    log_in(page, "perangkat.uji")
    bad, good = str(uuid.uuid4()), str(uuid.uuid4())
    save_visit(page, bad, visit_fields(participants_male="banyak"))
    save_visit(page, good, visit_fields(notes="Yang benar tetap terkirim"))
    status = call(page, "sync-client", "m.syncNow()")
    assert status["pending"] == 0 and status["refused"] == 1 and status["lastError"] is None
    assert visit_rows(live_server, good) == 1 and visit_rows(live_server, bad) == 0
    [refused] = call(page, "db", "m.listRefused()")
    assert refused["id"] == bad and refused["mutation_id"] == 1
    assert refused["message"]["id"] and "participants_male" in refused["errors"]["fields"]
    assert refused["fields"]["participants_male"] == "banyak"
    # The record stays in view, marked with why, until the user fixes it or lets it go.
    record = call(page, "db", f"m.getRecord('visits', '{bad}')")
    assert record["participants_male"] == "banyak" and record["pending"] is False
    assert [r["mutation_id"] for r in record["refused"]] == [1]
    assert record["refused"][0]["reason"] == "invalid"
    call(page, "db", "m.dismissRefused(1)")
    assert call(page, "db", "m.listRefused()") == []
    assert call(page, "db", f"m.getRecord('visits', '{bad}')") is None


def test_clear_all_leaves_nothing_in_indexeddb(page):
    page.goto("/")
    log_in(page, "perangkat.uji")
    save_visit(page, str(uuid.uuid4()), visit_fields())
    call(page, "sync-client", "m.syncNow()")
    page.evaluate("async () => (await import('/js/db.js')).saveDraft('visit:new', {notes: 'x'})")
    counts = page.evaluate(COUNT_STORES)
    assert counts["records"] >= 1 and counts["meta"] >= 1 and counts["drafts"] == 1
    call(page, "db", "m.clearAll()")
    assert set(page.evaluate(COUNT_STORES).values()) == {0}
    assert call(page, "db", "m.getSession()") is None


COUNT_STORES = """async () => {
    const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open('jangkau');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
    });
    const names = [...db.objectStoreNames];
    const t = db.transaction(names, 'readonly');
    const counts = {};
    await Promise.all(names.map((n) => new Promise((resolve) => {
        const req = t.objectStore(n).count();
        req.onsuccess = () => { counts[n] = req.result; resolve(); };
    })));
    db.close();
    return counts;
}"""


def test_a_large_outbox_goes_gzipped(page, live_server):
    page.goto("/")
    log_in(page, "perangkat.uji")
    # The sync that follows a login is over before the outbox fills: only ours sends it.
    call(page, "sync-client", "m.syncNow()")
    ids = [str(uuid.uuid4()) for _ in range(6)]
    for record_id in ids:
        save_visit(page, record_id, visit_fields(notes="Sosialisasi migrasi aman " * 8))
    encodings = []
    page.on("request", lambda r: "/api/sync" in r.url and encodings.append(
        r.headers.get("content-encoding")))
    status = call(page, "sync-client", "m.syncNow()")
    assert encodings and encodings[0] == "gzip", encodings
    assert status["pending"] == 0 and status["lastError"] is None, status
    assert sum(visit_rows(live_server, record_id) for record_id in ids) == 6


def test_phone_date_ahead_is_clamped_and_the_clock_comes_back(page, live_server):
    page.goto("/")
    log_in(page, "perangkat.uji")
    record_id = str(uuid.uuid4())
    # The phone's date is 400 days ahead while the visit is saved.
    page.evaluate("""() => { window.__realNow = Date.now;
        Date.now = () => window.__realNow() + 400 * 86400000; }""")
    ahead = save_visit(page, record_id, visit_fields())["_clocks"]["notes"]
    page.evaluate("() => { Date.now = window.__realNow; }")
    status = call(page, "sync-client", "m.syncNow()")
    assert status["clockWarning"]["id"].startswith("Tanggal di HP ini salah")
    record = call(page, "db", f"m.getRecord('visits', '{record_id}')")
    server_clock = record["_clocks"]["notes"]
    assert server_clock < ahead and server_clock.split("-", 2)[2] == ahead.split("-", 2)[2]
    # The local clock followed the server's: the next edit is not in the future any more.
    edited = save_visit(page, record_id, {"notes": "Jam HP sudah benar"})["_clocks"]["notes"]
    assert server_clock < edited < ahead
    status = call(page, "sync-client", "m.syncNow()")
    assert status["clockWarning"] is None and status["pending"] == 0


@pytest.mark.parametrize("fixed_before_sync", [False, True], ids=["still-wrong", "fixed"])
def test_a_phone_an_hour_ahead_stamps_its_edits_in_server_time(page, live_server,
                                                               fixed_before_sync):
    page.goto("/")
    log_in(page, "perangkat.uji")
    page.evaluate("""() => { window.__realNow = Date.now;
        Date.now = () => window.__realNow() + 3600000; }""")
    # A sync shows the phone its offset; the edits after it are stamped without it.
    call(page, "sync-client", "m.syncNow()")
    before = page.evaluate("() => window.__realNow()")
    record_id = str(uuid.uuid4())
    stamp = save_visit(page, record_id, visit_fields())["_clocks"]["notes"]
    after = page.evaluate("() => window.__realNow()")
    [entry] = call(page, "db", "m.listOutbox()")
    assert abs(entry["offset_ms"] - 3600000) < 60000
    assert before - 60000 <= int(stamp[:15]) <= after + 60000
    if fixed_before_sync:
        page.evaluate("() => { Date.now = window.__realNow; }")
    status = call(page, "sync-client", "m.syncNow()")
    assert status["pending"] == 0
    stored = live_server.query(sa.select(OutreachVisit.field_clocks)
                               .where(OutreachVisit.id == record_id))[0][0]
    # Kept as stamped: in server time, whatever the phone's date says at the sync.
    assert stored["notes"] == stamp


class _Account:
    def __init__(self, token, user_id):
        self.username = "dua"
        self.user_id = user_id
        self.headers = {"Authorization": f"Bearer {token}"}


def _conflicted_visit(page, live_server) -> tuple[str, dict]:
    """A visit whose notes two phones of the desa changed: this one's value and the other's
    are both kept, one of them in the conflict log."""
    from tests.sync_helpers import Phone

    page.goto("/")
    log_in(page, "perangkat.uji")
    record_id = str(uuid.uuid4())
    save_visit(page, record_id, visit_fields(notes="Versi awal"))
    call(page, "sync-client", "m.syncNow()")
    # Another phone of the desa, simulated in Python, pulls the visit and edits its notes.
    client = live_server.app.test_client()
    answer = client.post("/api/auth/login", json={"username": "perangkat.dua",
                                                  "password": live_server.password}).json
    token, user_id = answer["token"], answer["user"]["id"]
    other = Phone(client, _Account(token, user_id), node=f"hp-dua-{uuid.uuid4().hex[:6]}",
                  wall_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    other.sync_all()
    other.edit("visits", record_id, {"notes": "Versi HP dua"})
    other.sync()
    # This phone never pulled that edit and overwrites the notes it saw: both values exist.
    save_visit(page, record_id, {"notes": "Versi HP satu"})
    call(page, "sync-client", "m.syncNow()")
    [conflict] = call(page, "db", "m.listConflicts()")
    assert conflict["record_id"] == record_id and conflict["reason"] == "concurrent_edit"
    assert {conflict["winning_value"], conflict["losing_value"]} == {"Versi HP satu",
                                                                      "Versi HP dua"}
    assert conflict["losing_author"]["name"]
    return record_id, conflict


def test_conflict_is_pulled_and_resolved_online(page, live_server):
    record_id, conflict = _conflicted_visit(page, live_server)
    resolved = call(page, "sync-client",
                    f"m.resolveConflict('{conflict['id']}', 'Versi HP dua')")
    assert resolved["resolved_at"]
    assert call(page, "db", "m.listConflicts()") == []
    record = call(page, "db", f"m.getRecord('visits', '{record_id}')")
    assert record["notes"] == "Versi HP dua" and record["pending"] is False
    assert record["_clocks"]["notes"].endswith("-server")


def test_a_conflict_resolved_offline_is_resolved_on_the_server(page, context, live_server):
    from server.models import ConflictEntry

    record_id, conflict = _conflicted_visit(page, live_server)
    wait_for_worker(page)
    context.set_offline(True)
    resolved = call(page, "sync-client",
                    f"m.resolveConflict('{conflict['id']}', 'Versi HP dua')")
    assert resolved["resolved_at"]
    [entry] = call(page, "db", "m.listOutbox()")
    assert entry["resolves"] == [conflict["id"]] and entry["fields"] == {"notes": "Versi HP dua"}
    assert live_server.query(sa.select(ConflictEntry.resolved_at)
                             .where(ConflictEntry.record_id == record_id)) == [(None,)]
    context.set_offline(False)
    status = call(page, "sync-client", "m.syncNow()")
    assert status["pending"] == 0 and status["lastError"] is None
    [(resolved_at, notes)] = live_server.query(
        sa.select(ConflictEntry.resolved_at, OutreachVisit.notes)
        .join(OutreachVisit, OutreachVisit.id == ConflictEntry.record_id)
        .where(ConflictEntry.record_id == record_id))
    assert resolved_at is not None and notes == "Versi HP dua"


def test_logout_during_a_sync_leaves_nothing_behind(page, live_server):
    page.goto("/")
    log_in(page, "perangkat.uji")
    save_visit(page, str(uuid.uuid4()), visit_fields())

    def log_out_before_the_answer(route):
        response = route.fetch()
        page.evaluate("async () => (await import('/js/db.js')).clearAll()")
        route.fulfill(response=response)

    page.route("**/api/sync", log_out_before_the_answer)
    status = call(page, "sync-client", "m.syncNow()")
    # The answer arrived after the logout: it is set aside whole, without an error, and
    # writes none of the previous user's data back.
    assert status["lastError"] is None and status["pending"] == 0
    assert set(page.evaluate(COUNT_STORES).values()) == {0}


def test_a_failed_sync_backs_off_instead_of_retrying_at_once(page, live_server):
    page.goto("/")
    wait_for_worker(page)
    log_in(page, "perangkat.dua")
    sent = []

    def gateway_error(route):
        sent.append(route.request.url)
        route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>")

    page.route("**/api/sync", gateway_error)
    page.evaluate("""() => addEventListener('jangkau:status',
        (e) => { window.__lastStatus = e.detail; })""")
    call(page, "sync-client", "m.startAutoSync()")
    # A synchronous predicate: the promise of an async one would count as true at once.
    page.wait_for_function("() => window.__lastStatus?.lastError?.reason === 'unreachable'")
    # Online, Background Sync is not asked for: the browser would fire it at once, and each
    # failure would ask again (a retry storm). The back-off timer decides instead.
    tags = page.evaluate("async () => (await navigator.serviceWorker.ready).sync.getTags()")
    assert tags == []
    # The next try is 15 s away: a window of 3 s sees no other request (a storm made ~200).
    page.wait_for_timeout(3000)
    assert len(sent) == 1, len(sent)


def test_an_outdated_app_stops_syncing_and_looks_for_its_update(page, live_server):
    """The server answers an older protocol 426 client_outdated: the app keeps its outbox,
    says so in the server's words, sends nothing more (no retry loop) and asks the browser
    for its new version (registration.update())."""
    page.goto("/")
    wait_for_worker(page)
    log_in(page, "perangkat.uji")
    page.evaluate("""() => { window.__updates = 0;
        const update = ServiceWorkerRegistration.prototype.update;
        ServiceWorkerRegistration.prototype.update = function () {
          window.__updates += 1; return update.call(this); }; }""")
    sent = []

    def older(route):
        # The app as a version 1 app would send it: the server itself answers.
        raw = route.request.post_data_buffer
        body = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        sent.append(body["protocol"])
        body["protocol"] = 1
        headers = {k: v for k, v in route.request.headers.items()
                   if k.lower() not in ("content-encoding", "content-length")}
        route.fulfill(response=route.fetch(post_data=json.dumps(body), headers=headers))

    page.route("**/api/sync", older)
    record_id = str(uuid.uuid4())
    save_visit(page, record_id, visit_fields())
    status = call(page, "sync-client", "m.syncNow()")
    assert status["lastError"]["reason"] == "outdated"
    assert status["lastError"]["id"].startswith("Perbarui aplikasi")
    assert status["pending"] == 1
    assert visit_rows(live_server, record_id) == 0
    page.wait_for_function("() => window.__updates > 0", timeout=5000)
    assert "Perbarui aplikasi" in page.locator("#syncbar").inner_text()
    # Not again: neither on demand nor by a back-off timer.
    call(page, "sync-client", "m.syncNow()")
    assert call(page, "sync-client", "m.syncClient.retryTimer") is None
    assert sent == [2]
