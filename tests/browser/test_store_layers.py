"""pwa/js/store/ in Chromium, module by module: the database upgrade keeps a phone's data,
an edit and its outbox entry are one transaction, a sync answer is applied whole, and the
session refuses a second user while edits wait. No server: the modules are called directly."""

import pytest

pytestmark = pytest.mark.browser

VISIT = "0b9c4a52-4a7e-4c1e-9a51-6d1f8e2a7c01"
OTHER_VISIT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
PERSON = "2d3e4f5a-6b7c-4d8e-9fa0-1b2c3d4e5f60"
SESSION = {"token": "t", "user": {"id": 7, "username": "perangkat.uji"},
           "clientId": "c-lama", "node": "hp-lama"}

# A database as an earlier app version left it: the stores of version 1 (and, from version 2,
# the refused store's index), a session, two edits waiting to be sent and their record.
OLD_DATABASE = """
async ([version, session, visitId]) => {
  const hlc = await import('/js/hlc.js');
  const first = hlc.now(session.node, null, Date.now() - 60000);
  const second = hlc.now(session.node, first, Date.now() - 30000);
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open('jangkau', version);
    req.onupgradeneeded = () => {
      const d = req.result;
      d.createObjectStore('records', { keyPath: ['entity', 'id'] })
        .createIndex('updated', ['entity', 'updated']);
      d.createObjectStore('outbox', { keyPath: 'mutation_id' })
        .createIndex('record', ['entity', 'id']);
      const refused = d.createObjectStore('refused', { keyPath: 'mutation_id' });
      if (version >= 2) refused.createIndex('record', ['entity', 'id']);
      d.createObjectStore('conflicts', { keyPath: 'id' });
      d.createObjectStore('drafts');
      d.createObjectStore('meta');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const t = db.transaction(['records', 'outbox', 'meta', 'drafts'], 'readwrite');
  const clocks = { dusun: second, rt: first };
  t.objectStore('outbox').put({ mutation_id: 1, entity: 'visits', id: visitId, op: 'upsert',
    fields: { rt: '001' }, hlc: first });
  t.objectStore('outbox').put({ mutation_id: 2, entity: 'visits', id: visitId, op: 'upsert',
    fields: { dusun: 'Kliwon' }, hlc: second });
  t.objectStore('records').put({ entity: 'visits', id: visitId, server: null, derived: null,
    record: { id: visitId, rt: '001', dusun: 'Kliwon', _clocks: clocks }, pending: true,
    updated: second });
  t.objectStore('meta').put(session, 'session');
  t.objectStore('meta').put(3, 'next_mutation_id');
  t.objectStore('meta').put(second, 'hlc');
  t.objectStore('drafts').put({ data: { notes: 'setengah' }, saved_at: 'x' }, 'visit:new');
  await new Promise((resolve) => { t.oncomplete = resolve; });
  db.close();
}
"""


def call(page, expression: str, arg=None):
    """Evaluate `expression` with db.js bound to `db` (and the argument as `arg`)."""
    return page.evaluate(f"async (arg) => {{ const db = await import('/js/db.js'); "
                         f"return {expression}; }}", arg)


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_upgrades_without_losing_the_outbox(blank_page, version):
    page = blank_page
    page.evaluate(OLD_DATABASE, [version, SESSION, VISIT])

    assert call(page, "db.pendingCount()") == 2
    assert [e["mutation_id"] for e in call(page, "db.listOutbox()")] == [1, 2]
    assert call(page, "db.getSession()") == SESSION
    visit = call(page, "db.getRecord('visits', arg)", VISIT)
    assert (visit["rt"], visit["dusun"], visit["pending"]) == ("001", "Kliwon", True)
    assert call(page, "db.loadDraft('visit:new')") == {"notes": "setengah"}
    assert page.evaluate("async () => (await indexedDB.databases())"
                         ".find((d) => d.name === 'jangkau').version") == page.evaluate(
        "async () => (await import('/js/store/idb.js')).DB_VERSION")
    # The upgraded stores work as new ones: the next edit follows the old ones, and a
    # refused edit is found with its record (the index version 2 added).
    saved = call(page, "db.saveEdit('visits', arg, { notes: 'baru' })", OTHER_VISIT)
    assert saved["pending"] is True
    assert [e["mutation_id"] for e in call(page, "db.listOutbox()")] == [1, 2, 3]
    refusal = [{"mutation_id": 1, "reason": "invalid", "message": {"id": "x", "en": "x"}}]
    assert call(page, "db.refuseMutations(arg, 'c-lama')", refusal) == ["visits"]
    assert call(page, "db.getRecord('visits', arg)", VISIT)["refused"][0]["mutation_id"] == 1


def start(page, user_id: int = 7) -> dict:
    return call(page, "db.startSession({ token: 't', user: arg })",
                {"id": user_id, "username": f"u{user_id}"})


def test_an_edit_the_merge_refuses_writes_nothing(blank_page):
    page = blank_page
    start(page)
    call(page, "db.saveEdit('persons', arg, { name: 'Tarsih', archived_at: null })", PERSON)
    before = call(page, "db.getMeta('next_mutation_id')")
    # A person is archived, never deleted: refused before anything is written.
    error = page.evaluate("""async (id) => {
        const db = await import('/js/db.js');
        const { MergeRefused } = await import('/js/merge.js');
        try { await db.saveEdit('persons', id, {}, { op: 'delete' }); }
        catch (e) { return e instanceof MergeRefused; }
        return null; }""", PERSON)
    assert error is True
    assert call(page, "db.pendingCount()") == 1
    assert call(page, "db.getMeta('next_mutation_id')") == before
    assert call(page, "db.getRecord('persons', arg)", PERSON)["name"] == "Tarsih"


def test_a_sync_answer_is_applied_whole(blank_page):
    page = blank_page
    session = start(page)
    call(page, "db.saveEdit('visits', arg, { dusun: 'Kliwon' })", VISIT)
    call(page, "db.saveDraft('visit:' + arg, { dusun: 'draf' })", VISIT)
    # The server took the edit, moved its clock into server time and named the phone's offset.
    clamped = page.evaluate("async () => (await import('/js/hlc.js'))"
                            ".now('server', null, Date.now() - 3600000)")
    answer = {"last_mutation_id": 1, "clamped": [{"mutation_id": 1, "hlc": clamped}],
              "changes": [], "cursor": 5, "snapshot": "snap-1", "more": True}
    result = call(page, "db.applySyncAnswer(arg[0], arg[1], 3600000)",
                  [answer, session["clientId"]])
    assert result == {"entities": ["visits"], "reset": None}
    visit = call(page, "db.getRecord('visits', arg)", VISIT)
    assert visit["pending"] is False and visit["_clocks"]["dusun"] == clamped
    assert call(page, "db.pendingCount()") == 0
    assert [call(page, f"db.getMeta('{k}')") for k in ("cursor", "snapshot", "clock_offset_ms")] \
        == [5, "snap-1", 3600000]

    # The record left the user's area: it goes, with its draft; the sync screen says so.
    answer = {"last_mutation_id": 1, "changes": [], "cursor": 6, "snapshot": None,
              "removed": [{"entity": "visits", "id": VISIT, "reason": "out_of_scope"}]}
    call(page, "db.applySyncAnswer(arg[0], arg[1])", [answer, session["clientId"]])
    assert call(page, "db.getRecord('visits', arg)", VISIT) is None
    assert call(page, "db.loadDraft('visit:' + arg)", VISIT) is None
    assert call(page, "db.getMeta('removed')")["n"] == 1
    assert [call(page, f"db.getMeta('{k}')") for k in ("cursor", "snapshot")] == [6, None]

    # An answer for a session that has ended writes nothing.
    stale = {"last_mutation_id": 9, "changes": [], "cursor": 99}
    assert call(page, "db.applySyncAnswer(arg, 'another-client')", stale)["stale"] is True
    assert call(page, "db.getMeta('cursor')") == 6


def test_the_session_keeps_a_users_outbox_from_the_next_user(blank_page):
    page = blank_page
    first = start(page, 7)
    call(page, "db.saveEdit('visits', arg, { dusun: 'Kliwon' })", VISIT)
    # The same user again (an expired token): the same client, the outbox kept.
    assert start(page, 7)["clientId"] == first["clientId"]
    refused = page.evaluate("""async () => {
        const db = await import('/js/db.js');
        try { await db.startSession({ token: 't', user: { id: 8, username: 'u8' } }); }
        catch (e) { return [e.status, e.reason]; }
        return null; }""")
    assert refused == [409, "unsent_data"]
    assert call(page, "db.pendingCount()") == 1
    call(page, "db.clearAll()")
    assert start(page, 8)["clientId"] != first["clientId"]
