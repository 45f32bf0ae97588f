/** IndexedDB "jangkau": records, outbox, refused, conflicts, drafts, meta. Plain IndexedDB, promisified. */

import { ApiError } from './api.js';
import { now as hlcNow, receive, nodeOf } from './hlc.js';
import { applyMutation, MergeRefused } from './merge.js';

const DB_NAME = 'jangkau';
const DB_VERSION = 2;
const STORES = ['records', 'outbox', 'refused', 'conflicts', 'drafts', 'meta'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How each synced entity merges (server/sync_registry.py): which refuse updates or deletes. */
export const KINDS = {
  visits: {},
  persons: { archive_only: true },
  consents: {},
  migration_plans: {},
  referrals: {},
  referral_events: { insert_only: true },
};

let dbPromise = null;

function openDb() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = (event) => {
      const db = req.result;
      // Stepwise: a phone may skip versions, so every step from its version on runs.
      if (event.oldVersion < 1) {
        // A row per record: the server's copy, the local view (server + pending edits).
        db.createObjectStore('records', { keyPath: ['entity', 'id'] }).createIndex('updated', ['entity', 'updated']);
        db.createObjectStore('outbox', { keyPath: 'mutation_id' }).createIndex('record', ['entity', 'id']);
        db.createObjectStore('refused', { keyPath: 'mutation_id' });
        db.createObjectStore('conflicts', { keyPath: 'id' });
        db.createObjectStore('drafts');
        db.createObjectStore('meta');
      }
      if (event.oldVersion < 2) {
        // Set-aside edits are shown with their record, so they are looked up by it.
        req.transaction.objectStore('refused').createIndex('record', ['entity', 'id']);
      }
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab loads a newer version: step aside, this tab reopens on its next call.
      db.onversionchange = () => {
        db.close();
        dbPromise = null;
      };
      resolve(db);
    };
    req.onerror = () => {
      dbPromise = null;
      reject(req.error);
    };
  });
  return dbPromise;
}

const done = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

// One transaction over the named stores: fn may await only IndexedDB requests (done(...)),
// anything else would let the transaction commit half-way. A throw aborts it all.
async function tx(names, mode, fn) {
  const db = await openDb();
  const t = db.transaction(names, mode);
  const finished = new Promise((resolve, reject) => {
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new DOMException('Transaction aborted', 'AbortError'));
  });
  const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
  let result;
  try {
    result = await fn(stores);
  } catch (error) {
    try {
      t.abort();
    } catch {
      // Already finished or aborted by the failed request.
    }
    await finished.catch(() => {});
    throw error;
  }
  await finished;
  return result;
}

const updatedOf = (record) => {
  let top = record._deleted || '';
  for (const c of Object.values(record._clocks)) if (c > top) top = c;
  return top;
};

function view(row) {
  if (!row) return undefined;
  const out = { ...row.record, pending: row.pending };
  if (row.derived != null) out.derived = row.derived;
  if (row.refused) out.refused = row.refused;
  return out;
}

const randomNode = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `hp-${Array.from(bytes, (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
};

async function clearStores(s) {
  await Promise.all(STORES.map((n) => done(s[n].clear())));
}

// A record with edits applied in mutation order (refused merges are left out).
function replay(record, entries, session, entity) {
  for (const entry of [...entries].sort((a, b) => a.mutation_id - b.mutation_id)) {
    try {
      [record] = applyMutation(record, mutationOf(entry, session), KINDS[entity] || {});
    } catch (error) {
      if (!(error instanceof MergeRefused)) throw error;
    }
  }
  return record;
}

/** What a set-aside edit says to the user: {mutation_id, reason, message, errors}. */
const refusalOf = ({ mutation_id, reason, message, errors }) => ({ mutation_id, reason, message, errors });

// The local view of one record: the server's copy with the pending outbox edits on top
// (the server's copy wins for what it has acknowledged, e.g. a normalised phone number).
// Edits the server refused stay in view too, marked with why, until the user fixes them
// (an edit of this same record) or lets them go: a record never silently disappears.
async function rebuild(s, session, entity, id, patch = {}) {
  const row = (await done(s.records.get([entity, id]))) || { entity, id, server: null, derived: null };
  Object.assign(row, patch);
  const pending = await done(s.outbox.index('record').getAll([entity, id]));
  const refused = await done(s.refused.index('record').getAll([entity, id]));
  const record = replay(row.server, [...refused, ...pending], session, entity);
  if (!record) {
    await done(s.records.delete([entity, id]));
    return;
  }
  row.record = record;
  row.pending = pending.length > 0;
  row.updated = updatedOf(record);
  if (refused.length) row.refused = refused.map(refusalOf);
  else delete row.refused;
  await done(s.records.put(row));
}

function mutationOf(entry, session) {
  return { ...entry, node: nodeOf(entry.hlc), client_id: session.clientId, author: String(session.user.id) };
}

/** {token, user, clientId, node} of the logged-in user, or null. */
export async function getSession() {
  return (await tx(['meta'], 'readonly', (s) => done(s.meta.get('session')))) || null;
}

/** Store the session; a new user gets a fresh clientId, HLC node and cursor 0 (the same user keeps them). */
export async function startSession({ token, user }) {
  return tx(STORES, 'readwrite', async (s) => {
    const old = await done(s.meta.get('session'));
    if (old && old.user && user && old.user.id === user.id) {
      // Logging in again (an expired token): the outbox stays tied to the same client id,
      // so a batch the server applied but never answered is still recognised as sent.
      const session = { ...old, token, user };
      await done(s.meta.put(session, 'session'));
      return session;
    }
    if (await done(s.outbox.count())) {
      const who = (old && old.user && (old.user.full_name || old.user.username)) || '?';
      throw new ApiError(409, `HP ini masih menyimpan data ${who} yang belum terkirim. ${who} harus masuk dan menyinkronkan dulu.`,
        `This phone still holds unsent data of ${who}. ${who} must log in and sync first.`, null, 'unsent_data');
    }
    await clearStores(s);
    const session = { token, user, clientId: crypto.randomUUID(), node: randomNode() };
    await done(s.meta.put(session, 'session'));
    await done(s.meta.put(0, 'cursor'));
    await done(s.meta.put(1, 'next_mutation_id'));
    return session;
  });
}

/** A value kept in the meta store. */
export async function getMeta(key) {
  return tx(['meta'], 'readonly', (s) => done(s.meta.get(key)));
}

/** Keep a value in the meta store. */
export async function setMeta(key, value) {
  return tx(['meta'], 'readwrite', (s) => done(s.meta.put(value, key)));
}

/** The local record {id, ...fields, _clocks, ..., derived?, pending}, or undefined. */
export async function getRecord(entity, id) {
  return view(await tx(['records'], 'readonly', (s) => done(s.records.get([entity, id]))));
}

/** The entity's records, tombstones left out, newest first by their latest clock; filterFn optional. */
export async function listRecords(entity, filterFn) {
  const rows = await tx(['records'], 'readonly', (s) => done(s.records.index('updated').getAll(IDBKeyRange.bound([entity], [entity, []]))));
  const out = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    if (rows[i].record._deleted != null) continue;
    const record = view(rows[i]);
    if (!filterFn || filterFn(record)) out.push(record);
  }
  return out;
}

/** Apply an edit locally and queue it, in ONE transaction; returns the new local record. base: clocks the user saw (default: the local copy's).
 *  The record's set-aside edits go into this one (their values under the new ones): a fix is an edit of the same record, never a second record. */
export async function saveEdit(entity, id, fields, { op = 'upsert', base } = {}) {
  const kind = KINDS[entity];
  if (!kind) throw new Error(`unknown entity ${entity}`);
  // The server refuses a whole batch over a malformed id; better to fail here, at once.
  if (!UUID_RE.test(id)) throw new Error(`record id must be a UUID: ${id}`);
  const row = await tx(['records', 'outbox', 'refused', 'meta'], 'readwrite', async (s) => {
    const session = await done(s.meta.get('session'));
    if (!session) throw new ApiError(401, 'Silakan masuk terlebih dahulu.', 'Please log in first.');
    const current = await done(s.records.get([entity, id]));
    let local = current ? current.record : null;
    let sent = op === 'delete' ? {} : { ...fields };
    const aside = await done(s.refused.index('record').getAll([entity, id]));
    if (aside.length) {
      // The refused ids are never sent again (docs/sync-protocol.md §11): what they held
      // goes out in this new mutation, and `base` is taken from what the server has.
      local = replay(current ? current.server : null, await done(s.outbox.index('record').getAll([entity, id])), session, entity);
      if (op !== 'delete') sent = Object.assign({}, ...aside.filter((r) => r.op !== 'delete').map((r) => r.fields), sent);
      if (op === 'upsert' && aside.some((r) => r.op === 'insert')) op = 'insert';
    }
    // In server time once an answer showed the phone's date is off (§15); the offset goes along.
    const offset = await done(s.meta.get('clock_offset_ms'));
    const hlc = hlcNow(session.node, (await done(s.meta.get('hlc'))) || null, Date.now() - (offset || 0));
    const mutationId = (await done(s.meta.get('next_mutation_id'))) || 1;
    const entry = { mutation_id: mutationId, entity, id, op, fields: sent, hlc, ...(typeof offset === 'number' ? { offset_ms: offset } : {}) };
    let seen = base;
    if (seen === undefined && local) {
      // What the user saw: a knowing overwrite is no conflict, a blind one is logged.
      const names = op === 'delete' ? Object.keys(local._clocks) : Object.keys(entry.fields);
      seen = Object.fromEntries(names.map((n) => [n, local._clocks[n] ?? null]));
    }
    if (seen) entry.base = seen;
    // Throws MergeRefused (e.g. deleting a person) before anything is written.
    const [record] = applyMutation(local, mutationOf(entry, session), kind);
    await done(s.meta.put(hlc, 'hlc'));
    await done(s.meta.put(mutationId + 1, 'next_mutation_id'));
    await done(s.outbox.add(entry));
    for (const r of aside) await done(s.refused.delete(r.mutation_id));
    const { refused: _fixed, ...kept } = current || {};
    const next = { entity, id, server: null, derived: null, ...kept, record, pending: true, updated: updatedOf(record) };
    await done(s.records.put(next));
    return next;
  });
  window.dispatchEvent(new CustomEvent('jangkau:outbox'));
  return view(row);
}

/** How many edits wait to be sent. */
export async function pendingCount() {
  return tx(['outbox'], 'readonly', (s) => done(s.outbox.count()));
}

/** The outbox, oldest first: {mutation_id, entity, id, op, fields, hlc, base?}. */
export async function listOutbox() {
  return tx(['outbox'], 'readonly', (s) => done(s.outbox.getAll()));
}

/** Edits the server refused, kept for the user: the mutation plus {reason, message: {id, en}, errors, refused_at, on_server}
 *  (on_server: the server has the record, so letting the edit go only undoes the edit). */
export async function listRefused() {
  return tx(['refused', 'records'], 'readonly', async (s) => {
    const all = await done(s.refused.getAll());
    for (const r of all) {
      const row = await done(s.records.get([r.entity, r.id]));
      r.on_server = !!(row && row.server);
    }
    return all;
  });
}

/** How many refused edits wait for the user. */
export async function refusedCount() {
  return tx(['refused'], 'readonly', (s) => done(s.refused.count()));
}

/** Let a refused edit go: its record goes back to what the server has (and is gone if the server never had it). */
export async function dismissRefused(mutationId) {
  const entity = await tx(STORES, 'readwrite', async (s) => {
    const entry = await done(s.refused.get(mutationId));
    const session = await done(s.meta.get('session'));
    if (!entry || !session) return null;
    await done(s.refused.delete(mutationId));
    await rebuild(s, session, entry.entity, entry.id);
    return entry.entity;
  });
  window.dispatchEvent(new CustomEvent('jangkau:outbox'));
  if (entity) window.dispatchEvent(new CustomEvent('jangkau:data', { detail: { entities: [entity] } }));
}

/** Pulled conflict entries, newest first; {open: true} leaves out the resolved ones. */
export async function listConflicts({ open = true } = {}) {
  const all = await tx(['conflicts'], 'readonly', (s) => done(s.conflicts.getAll()));
  const out = open ? all.filter((c) => !c.resolved_at) : all;
  return out.sort((a, b) => ((a.winning_hlc || '') < (b.winning_hlc || '') ? 1 : -1));
}

/** One conflict entry, or undefined. */
export async function getConflict(id) {
  return tx(['conflicts'], 'readonly', (s) => done(s.conflicts.get(id)));
}

/** Mark a conflict resolved here (locally: until the server says otherwise). */
export async function markConflictResolved(id, resolvedAt, locally = false) {
  return tx(['conflicts'], 'readwrite', async (s) => {
    const entry = await done(s.conflicts.get(id));
    if (!entry) return undefined;
    Object.assign(entry, { resolved_at: resolvedAt }, locally ? { resolved_locally: true } : {});
    await done(s.conflicts.put(entry));
    return entry;
  });
}

/** Keep what a form holds, as the user types. */
export async function saveDraft(key, data) {
  return tx(['drafts'], 'readwrite', (s) => done(s.drafts.put({ data, saved_at: new Date().toISOString() }, key)));
}

/** The draft's data, or undefined. */
export async function loadDraft(key) {
  const draft = await tx(['drafts'], 'readonly', (s) => done(s.drafts.get(key)));
  return draft ? draft.data : undefined;
}

/** Forget a draft (after saving or cancelling the form). */
export async function clearDraft(key) {
  return tx(['drafts'], 'readwrite', (s) => done(s.drafts.delete(key)));
}

/** Logout: delete every record, outbox entry, refused edit, conflict, draft, meta and the session. */
export async function clearAll() {
  await tx(STORES, 'readwrite', clearStores);
  window.dispatchEvent(new CustomEvent('jangkau:outbox'));
}

// --- for sync-client.js --------------------------------------------------------------

// An answer for another session (the user logged out meanwhile) must not write a thing:
// it would bring the previous user's data back after clearAll.
async function sameSession(s, clientId) {
  const session = await done(s.meta.get('session'));
  return session && session.clientId === clientId ? session : null;
}

/** Move the named outbox entries to the refused store (a 422 batch or a refused mutation). */
export async function refuseMutations(refusals, clientId) {
  return tx(STORES, 'readwrite', async (s) => {
    const session = await sameSession(s, clientId);
    if (!session) return [];
    const moved = await moveRefused(s, refusals);
    for (const [entity, id] of moved) await rebuild(s, session, entity, id);
    return [...new Set(moved.map(([entity]) => entity))];
  });
}

async function moveRefused(s, refusals) {
  const moved = [];
  const refusedAt = new Date().toISOString();
  for (const r of refusals) {
    const entry = await done(s.outbox.get(r.mutation_id));
    if (!entry) continue;
    await done(s.refused.put({ ...entry, reason: r.reason, message: r.message, errors: r.fields || null, refused_at: refusedAt }));
    await done(s.outbox.delete(r.mutation_id));
    moved.push([entry.entity, entry.id]);
  }
  return moved;
}

/** Apply one sync answer of clientId in ONE transaction: refusals, acknowledged edits, clamped clocks, the clock offset, reset, the page and its cursor. Returns {entities, reset, stale}. */
export async function applySyncAnswer(answer, clientId, offset) {
  return tx(STORES, 'readwrite', async (s) => {
    const session = await sameSession(s, clientId);
    if (!session) return { entities: [], reset: null, stale: true };
    const touched = new Map();
    const touch = (entity, id) => touched.set(`${entity}\u0000${id}`, [entity, id]);
    const entities = new Set();
    // Refused first: they are at or below last_mutation_id but must not count as applied.
    for (const [entity, id] of await moveRefused(s, answer.refused || [])) touch(entity, id);
    const clamped = new Map((answer.clamped || []).map((c) => [c.mutation_id, c.hlc]));
    const acked = await done(s.outbox.getAll(IDBKeyRange.upperBound(answer.last_mutation_id)));
    for (const entry of acked) {
      // The server has it: it becomes part of the server's copy (with the server's clock
      // if the phone's date was wrong) until the pulled record replaces that copy.
      const row = await done(s.records.get([entry.entity, entry.id]));
      const hlc = clamped.get(entry.mutation_id) || entry.hlc;
      if (row) {
        try {
          [row.server] = applyMutation(row.server, mutationOf({ ...entry, hlc }, session), KINDS[entry.entity] || {});
          await done(s.records.put(row));
        } catch (error) {
          if (!(error instanceof MergeRefused)) throw error;
        }
      }
      await done(s.outbox.delete(entry.mutation_id));
      touch(entry.entity, entry.id);
    }
    let last = (await done(s.meta.get('hlc'))) || null;
    if (clamped.size) {
      // Adopt the server's clock: later edits follow it, unless edits made meanwhile are later.
      const remaining = await done(s.outbox.getAll());
      last = [...clamped.values(), ...remaining.map((e) => e.hlc)].reduce((a, b) => (a > b ? a : b));
    }
    if (typeof offset === 'number' && offset !== (await done(s.meta.get('clock_offset_ms')))) {
      // A new offset: the clock comes back to server time, after the edits still to be sent.
      await done(s.meta.put(offset, 'clock_offset_ms'));
      last = [...clamped.values(), ...(await done(s.outbox.getAll())).map((e) => e.hlc)].reduce((a, b) => (a && a > b ? a : b), null);
      if (!last) await done(s.meta.delete('hlc'));
    }
    if (answer.reset) {
      // The server's data changed under us: forget the pulled copies, keep what waits.
      await done(s.records.clear());
      await done(s.conflicts.clear());
      await done(s.meta.put(0, 'cursor'));
      await done(s.meta.put(null, 'snapshot'));
      touched.clear();
      for (const entry of await done(s.outbox.getAll())) touch(entry.entity, entry.id);
      for (const entry of await done(s.refused.getAll())) touch(entry.entity, entry.id);
      for (const [entity, id] of touched.values()) await rebuild(s, session, entity, id);
      await done(s.meta.put(last, 'hlc'));
      return { entities: [...Object.keys(KINDS), 'conflicts'], reset: answer.reset };
    }
    let seen = null;
    for (const change of answer.changes || []) {
      entities.add(change.entity);
      if (change.entity === 'conflicts') {
        const old = await done(s.conflicts.get(change.id));
        const entry = { ...change.record, id: change.id };
        // Resolved on this phone while offline: keep it out of the open list.
        if (old && old.resolved_locally && !entry.resolved_at) Object.assign(entry, { resolved_at: old.resolved_at, resolved_locally: true });
        await done(s.conflicts.put(entry));
        continue;
      }
      if (!KINDS[change.entity]) {
        // Pulled only (possible duplicates): read-only here, kept as the server sends them.
        await done(s.records.put({ entity: change.entity, id: change.id, server: null, derived: null, pending: false, record: { ...change.record, id: change.id, _clocks: {} }, updated: String(change.seq).padStart(16, '0') }));
        continue;
      }
      const record = change.record;
      for (const c of [record._deleted, ...Object.values(record._clocks || {})]) if (c && (!seen || c > seen)) seen = c;
      touched.delete(`${change.entity}\u0000${change.id}`);
      await rebuild(s, session, change.entity, change.id, { server: record, derived: change.derived ?? null });
    }
    // Records that left the user's scope (pushed edits of them were answered above): they
    // go with their drafts and conflicts, and the sync screen says how many and why.
    const removed = answer.removed || [];
    if (removed.length) {
      const ids = new Set(removed.map((r) => r.id));
      for (const { entity, id } of removed) {
        // Without the server's copy only edits still waiting to be sent stay (to be refused).
        await rebuild(s, session, entity, id, { server: null, derived: null });
        touched.delete(`${entity}\u0000${id}`);
        entities.add(entity);
      }
      for (const c of await done(s.conflicts.getAll())) if (ids.has(c.record_id)) await done(s.conflicts.delete(c.id));
      for (const key of await done(s.drafts.getAllKeys())) if (ids.has(String(key).split(':').pop())) await done(s.drafts.delete(key));
      const before = (await done(s.meta.get('removed'))) || { n: 0 };
      await done(s.meta.put({ n: before.n + removed.length, reason: removed[0].reason, at: new Date().toISOString() }, 'removed'));
      entities.add('conflicts');
    }
    for (const [entity, id] of touched.values()) {
      entities.add(entity);
      await rebuild(s, session, entity, id);
    }
    // What this phone has seen: its next edit must sort after it, whatever its own date.
    const wall = Date.now() - ((await done(s.meta.get('clock_offset_ms'))) || 0);
    if (seen && (!last || seen > last)) last = last ? receive(last, seen, wall) : hlcNow(session.node, seen, wall);
    if (last) await done(s.meta.put(last, 'hlc'));
    await done(s.meta.put(answer.cursor, 'cursor'));
    // A full download under way: its next page is asked with this snapshot.
    await done(s.meta.put(answer.snapshot ?? null, 'snapshot'));
    return { entities: [...entities], reset: null };
  });
}
