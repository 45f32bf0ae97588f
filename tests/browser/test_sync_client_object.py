"""pwa/js/sync-client.js as an object in Chromium: nothing happens on import, start() and
stop() hook a client to the page and unhook it, and two clients in one page keep their own
state while sending the shared outbox once."""

import datetime as dt
import gzip
import json
import uuid

import pytest
import sqlalchemy as sa

from server.models import OutreachVisit
from tests.browser.conftest import DESA_A
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

WIB = dt.timezone(dt.timedelta(hours=7))

# Records every listener added to or removed from anything, before the module loads.
SPY = """
async () => {
  window.__listeners = [];
  const add = EventTarget.prototype.addEventListener;
  const remove = EventTarget.prototype.removeEventListener;
  EventTarget.prototype.addEventListener = function (type, ...rest) {
    window.__listeners.push(['+', type]);
    return add.call(this, type, ...rest);
  };
  EventTarget.prototype.removeEventListener = function (type, ...rest) {
    window.__listeners.push(['-', type]);
    return remove.call(this, type, ...rest);
  };
}
"""


def listeners(page) -> list[list[str]]:
    return page.evaluate("() => window.__listeners.splice(0)")


def test_importing_registers_nothing_and_stop_undoes_start(blank_page):
    page = blank_page
    page.evaluate(SPY)
    page.evaluate("async () => { window.m = await import('/js/sync-client.js'); }")
    assert listeners(page) == []

    page.evaluate("() => { window.c = new window.m.SyncClient(); window.c.start(); }")
    added = listeners(page)
    assert {t for sign, t in added if sign == "+"} >= {"online", "offline", "jangkau:outbox",
                                                       "visibilitychange"}
    assert page.evaluate("() => window.c.started") is True
    page.evaluate("() => window.c.stop()")
    removed = listeners(page)
    assert sorted(t for sign, t in removed if sign == "-") == sorted(t for _, t in added)
    assert page.evaluate("() => window.c.started") is False


def visit_fields(notes: str) -> dict:
    day = dt.datetime.now(WIB).date() - dt.timedelta(days=1)
    return {"visit_type": "sosialisasi", "visit_date": day.isoformat(), "desa_code": DESA_A,
            "topics": [], "participants_male": 1, "participants_female": 2,
            "participants_children": 0, "notes": notes}


def test_two_clients_in_one_page_keep_their_own_state_and_send_once(context, blank_page,
                                                                   live_server):
    page = blank_page
    log_in(page, "perangkat.uji")
    ids = [str(uuid.uuid4()) for _ in range(2)]
    for record_id in ids:
        page.evaluate("async ([id, f]) => (await import('/js/db.js')).saveEdit('visits', id, f)",
                      [record_id, visit_fields(f"Dua klien {record_id[:8]}")])
    page.evaluate("""async () => {
        const { SyncClient } = await import('/js/sync-client.js');
        window.events = { a: 0, b: 0 };
        window.a = new SyncClient();
        window.b = new SyncClient();
        window.a.target.addEventListener('jangkau:status', () => { window.events.a += 1; });
        window.b.target.addEventListener('jangkau:status', () => { window.events.b += 1; });
    }""")

    # Without signal only the client that tried knows it.
    context.set_offline(True)
    a = page.evaluate("() => window.a.syncNow()")
    assert a["lastError"]["reason"] == "offline" and a["pending"] == 2
    assert page.evaluate("() => window.b.getStatus()")["lastError"] is None
    assert page.evaluate("() => window.events.b") == 0

    # Both at once: the outbox goes once, and each ends with nothing waiting.
    context.set_offline(False)
    sent = []
    page.on("request", lambda r: r.url.endswith("/api/sync") and sent.append(r.post_data_buffer))
    a, b = page.evaluate("() => Promise.all([window.a.syncNow(), window.b.syncNow()])")
    bodies = [json.loads(gzip.decompress(x) if x[:2] == b"\x1f\x8b" else x) for x in sent]
    assert sorted(m["id"] for body in bodies for m in body["mutations"]) == sorted(ids)
    assert (a["pending"], b["pending"]) == (0, 0)
    assert a["lastError"] is None and b["lastError"] is None
    assert page.evaluate("() => window.events.b") > 0
    rows = live_server.query(sa.select(sa.func.count()).select_from(OutreachVisit)
                             .where(OutreachVisit.id.in_(ids)))[0][0]
    assert rows == 2
