"""Concurrent pushes and pulls on a real threaded server: no change is skipped.

Phones push at the same time while another phone pulls in small pages; each change must
reach the puller exactly once, the puller's cursor must never go back, and no request may
fail (on SQLite a writer may wait for the database lock, up to the 5 s busy timeout, but
must not fail with "database is locked").

At the engine level, two transactions that both write synced rows: the second one must
wait until the first commits, so change sequences commit in the order they were taken and
a pull between them never hands out the later one before the earlier one.
"""

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.serving import make_server

from server.extensions import db
from server.models import ConflictEntry
from server.models import OutreachVisit
from server.models import User
from server.sync_registry import build_registry
from sync import engine
from sync import hlc
from sync import sequence
from sync.protocol import PROTOCOL_VERSION
from tests.conftest import DESA_A
from tests.sync_helpers import VISIT

pytestmark = pytest.mark.usefixtures("fast_passwords")

PUSHERS = 4
BATCHES = 20
PER_BATCH = 3
PULL_LIMIT = 4
TIMEOUT = 60


@pytest.fixture
def live_server(app):
    """The app on a real threaded HTTP server on a free port."""
    db.session.commit()
    db.session.close()  # the test's own session holds no transaction while threads write
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()


def post_sync(base_url: str, token: str, body: dict) -> tuple[int, dict | str]:
    body = dict(body, protocol=PROTOCOL_VERSION)
    request = urllib.request.Request(
        f"{base_url}/api/sync", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")[:2000]


def test_concurrent_pushes_reach_a_concurrent_puller_exactly_once(app, live_server,
                                                                  make_account):
    pushers = [make_account("officer", desa_code=DESA_A) for _ in range(PUSHERS)]
    reader = make_account("officer", desa_code=DESA_A)
    db.session.close()
    errors: list[str] = []
    pushed: dict[int, list[str]] = {i: [] for i in range(PUSHERS)}
    seen: list[str] = []
    windows: dict[str, tuple[int, int]] = {}
    cursors: list[int] = []
    done = threading.Event()

    def push(index: int) -> None:
        account = pushers[index]
        client_id, node, clock, mid = str(uuid.uuid4()), f"hp-dorong-{index}", None, 0
        try:
            for batch_no in range(BATCHES):
                mutations = []
                for _ in range(PER_BATCH):
                    mid += 1
                    clock = hlc.now(node, last=clock)
                    record_id = str(uuid.uuid4())
                    mutations.append({"mutation_id": mid, "entity": "visits", "id": record_id,
                                      "op": "upsert", "hlc": clock,
                                      "fields": dict(VISIT, notes=f"{node} {mid}")})
                status, answer = post_sync(live_server, account.token, {
                    "client_id": client_id, "cursor": 0, "mutations": mutations,
                    "pull_limit": 1})
                if status != 200:
                    errors.append(f"pusher {index} batch {batch_no}: {status} {answer}")
                    return
                if answer["applied"] != [m["mutation_id"] for m in mutations]:
                    errors.append(f"pusher {index} batch {batch_no}: {answer['applied']} "
                                  f"{answer['refused']}")
                    return
                pushed[index].extend(m["id"] for m in mutations)
        except Exception as e:  # recorded, so the test fails with the reason
            errors.append(f"pusher {index}: {type(e).__name__}: {e}")

    def pull() -> None:
        client_id, cursor, draining = str(uuid.uuid4()), 0, False
        try:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                finished = done.is_set()
                status, answer = post_sync(live_server, reader.token, {
                    "client_id": client_id, "cursor": cursor, "mutations": [],
                    "pull_limit": PULL_LIMIT})
                if status != 200:
                    errors.append(f"puller: {status} {answer}")
                    return
                for change in answer["changes"]:
                    if change["entity"] == "visits":
                        seen.append(change["id"])
                        # Checked against the stored sequence at the end (a pushed visit
                        # is written once): a synced change carries no seq.
                        windows[change["id"]] = (cursor, answer["cursor"])
                if answer["cursor"] < cursor:
                    errors.append(f"puller: cursor went back from {cursor} to "
                                  f"{answer['cursor']}")
                cursor = answer["cursor"]
                cursors.append(cursor)
                if answer["more"]:
                    continue
                if draining:
                    return  # a whole pull after the pushers finished found nothing more
                draining = finished
                time.sleep(0.002)
            errors.append("puller: did not drain in time")
        except Exception as e:
            errors.append(f"puller: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=push, args=(i,), name=f"pusher-{i}")
               for i in range(PUSHERS)]
    puller = threading.Thread(target=pull, name="puller")
    puller.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    stuck = [t.name for t in threads if t.is_alive()]
    done.set()
    puller.join(TIMEOUT)
    assert not stuck and not puller.is_alive(), f"stuck threads: {stuck}, puller alive: " \
                                                f"{puller.is_alive()}"
    assert errors == []
    all_pushed = [rid for ids in pushed.values() for rid in ids]
    assert len(all_pushed) == PUSHERS * BATCHES * PER_BATCH
    missing = set(all_pushed) - set(seen)
    assert missing == set(), f"{len(missing)} pushed visits never pulled"
    assert len(seen) == len(set(seen)), "a visit was pulled twice: a cursor went back"
    stored = dict(db.session.execute(sa.select(OutreachVisit.id, OutreachVisit.change_seq)).all())
    outside = {rid: (stored[rid], window) for rid, window in windows.items()
               if not window[0] < stored[rid] <= window[1]}
    assert outside == {}, "changes pulled outside (cursor, new cursor]"
    assert cursors == sorted(cursors)
    db.session.expire_all()
    assert cursors[-1] == sequence.high_water(db.session)
    count = db.session.execute(sa.select(sa.func.count()).select_from(OutreachVisit))
    assert count.scalar_one() == len(all_pushed)


def test_change_sequences_commit_in_the_order_they_were_taken(app, make_account):
    """Transaction 1 takes a sequence and writes a visit, uncommitted; transaction 2 wants
    to write too and must wait for 1 to commit; a pull in between sees neither, then 1's
    visit alone, then 2's."""
    admin_id = make_account("admin").user_id
    registry = build_registry()
    bind = db.engine
    db.session.close()
    first_id, second_id = str(uuid.uuid4()), str(uuid.uuid4())
    taken = threading.Event()
    release = threading.Event()
    second: dict = {}

    def visit(record_id: str, seq: int) -> OutreachVisit:
        return OutreachVisit(id=record_id, visit_type="sosialisasi",
                             visit_date=dt.date(2026, 1, 5), desa_code=DESA_A,
                             created_by_id=admin_id, change_seq=seq, field_clocks={},
                             sync_meta={})

    def write_second() -> None:
        try:
            with so.Session(bind=bind) as session:
                second["seq"] = sequence.allocate(session)
                second["taken_at"] = time.monotonic()
                taken.set()
                session.add(visit(second_id, second["seq"]))
                session.flush()
                if not release.wait(TIMEOUT):
                    raise TimeoutError("never released")
                session.commit()
        except Exception as e:
            second["error"] = f"{type(e).__name__}: {e}"
            taken.set()

    def pulled(cursor: int) -> tuple[set[str], int]:
        with so.Session(bind=bind) as session:
            user = session.get(User, admin_id)
            page = engine.pull(session, registry, user, cursor, 100)
            assert page.reset is None and not page.more
            return {c["id"] for c in page.changes if c["entity"] == "visits"}, page.cursor

    start = sequence.high_water(db.session)
    db.session.close()
    thread = threading.Thread(target=write_second, name="second-writer")
    with so.Session(bind=bind) as first:
        seq = sequence.allocate(first)
        first.add(visit(first_id, seq))
        first.flush()
        thread.start()
        waited = not taken.wait(0.5)
        before = pulled(start)
        committed_at = time.monotonic()
        first.commit()
    try:
        assert waited, (f"transaction 2 took sequence {second.get('seq')} while 1 held {seq} "
                        f"uncommitted ({second.get('error')})")
        assert before == (set(), start)
        assert taken.wait(TIMEOUT), "transaction 2 never got its sequence"
        assert "error" not in second, second["error"]
        assert second["seq"] == seq + 1 and second["taken_at"] >= committed_at
        # 2 holds the next sequence, uncommitted: a pull hands out 1's visit only, and its
        # cursor stops below 2's sequence.
        assert pulled(start) == ({first_id}, seq)
    finally:
        release.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive(), "transaction 2 did not finish"
    assert "error" not in second, second["error"]
    assert pulled(seq) == ({second_id}, second["seq"])


@pytest.fixture
def web_edit_paused(app, monkeypatch):
    """Run a web PATCH (in a thread of its own) of a visit the user opened before: it
    sends If-Match with the version it was shown, and stops before it takes the write
    lock — the window in which a phone's push can commit."""
    from server import auth

    ready, go = threading.Event(), threading.Event()
    lock = auth.sequence.lock_writes

    def paused_lock(session):
        if threading.current_thread().name == "web-edit" and not go.is_set():
            ready.set()
            if not go.wait(TIMEOUT):
                raise TimeoutError("never let go")
        return lock(session)

    monkeypatch.setattr(auth.sequence, "lock_writes", paused_lock)

    def start(account, visit_id: str, fields: dict):
        result = {}
        with app.test_client() as web:
            shown = web.get(f"/api/visits/{visit_id}", headers=account.headers)
            assert shown.status_code == 200
            version = shown.headers["ETag"]

        def patch():
            with app.test_client() as web:
                response = web.patch(f"/api/visits/{visit_id}", json=fields,
                                     headers=dict(account.headers, **{"If-Match": version}))
                result["status"] = response.status_code
                result["body"] = response.get_json()

        thread = threading.Thread(target=patch, name="web-edit")
        thread.start()
        assert ready.wait(TIMEOUT), "the web edit never started"

        def finish() -> dict:
            go.set()
            thread.join(TIMEOUT)
            assert not thread.is_alive(), "the web edit did not finish"
            return result

        return finish

    yield start
    go.set()


def _phone_with_visit(client, make_account):
    from tests.sync_helpers import Phone

    phone = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-desa",
                  wall_ms=hlc.wall_clock_ms())
    visit_id = phone.new("visits", VISIT)
    phone.sync()
    phone.sync_all()
    db.session.close()
    return phone, visit_id


def test_a_web_edit_racing_a_push_of_the_same_field_does_not_drop_the_phones_value(
        client, make_account, web_edit_paused):
    """The officer at the web opens the visit; meanwhile a phone's edit of the notes is
    pushed and committed; then the web edit of the notes is saved, naming the version it
    showed. The web user never saw the phone's notes: they must stay the value, or go to
    the conflict log."""
    phone, visit_id = _phone_with_visit(client, make_account)
    web = make_account("officer", desa_code=DESA_A)
    db.session.close()
    finish = web_edit_paused(web, visit_id, {"notes": "dari web"})
    phone.wall_ms = hlc.wall_clock_ms()
    phone.edit("visits", visit_id, {"notes": "dari HP"})
    assert phone.sync()["applied"] == [2]
    assert finish()["status"] == 200
    db.session.expire_all()
    notes = db.session.get(OutreachVisit, visit_id).notes
    logged = db.session.execute(sa.select(ConflictEntry.losing_value)).scalars().all()
    assert notes == "dari HP" or "dari HP" in logged, (
        f"the phone's notes vanished: notes={notes!r}, conflicts={logged!r}")


def test_a_web_edit_racing_a_push_of_another_field_keeps_that_fields_clock(
        client, make_account, web_edit_paused):
    """The same race on different fields: the web changes the dusun, the phone the notes.
    The notes keep the phone's value, and must keep the phone's clock and author too (else
    the server's copy disagrees with the phones' and later merges pick the wrong winner)."""
    phone, visit_id = _phone_with_visit(client, make_account)
    web = make_account("officer", desa_code=DESA_A)
    db.session.close()
    finish = web_edit_paused(web, visit_id, {"dusun": "Dusun Web"})
    phone.wall_ms = hlc.wall_clock_ms()
    pushed = phone.edit("visits", visit_id, {"notes": "dari HP"})
    answer = phone.sync()
    assert answer["applied"] == [2] and answer["clamped"] == []
    assert finish()["status"] == 200
    db.session.expire_all()
    visit = db.session.get(OutreachVisit, visit_id)
    assert (visit.notes, visit.dusun) == ("dari HP", "Dusun Web")
    assert visit.field_clocks["notes"] == pushed["hlc"], (
        f"notes={visit.notes!r} but its clock went back to {visit.field_clocks['notes']!r}")
    assert visit.sync_meta["_authors"]["notes"] == str(phone.account.user_id)
