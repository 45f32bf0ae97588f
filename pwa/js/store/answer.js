/** Applying one sync answer to the replica in ONE transaction: refusals, acknowledged edits,
 *  clamped clocks and the clock offset, a reset, pulled changes, removals, the cursor and the
 *  snapshot of a full download (docs/sync-protocol.md). */

import { now as hlcNow, receive } from '../hlc.js';
import { applyMutation, MergeRefused } from '../merge.js';
import { STORES, tx, done } from './idb.js';
import { KINDS, mutationOf, rebuild } from './replica.js';
import { moveRefused } from './outbox.js';
import { sameSession } from './session.js';
import { putConflict } from './conflicts.js';
import { expand, applyPartial } from '../wire.js';

const latest = (hlcs, start = null) => hlcs.reduce((a, b) => (a && a > b ? a : b), start);

// The records an answer touched, each once.
class Touched extends Map {
  add(entity, id) {
    this.set(`${entity}\u0000${id}`, [entity, id]);
  }

  drop(entity, id) {
    this.delete(`${entity}\u0000${id}`);
  }
}

// Fields the server sends only masked (server/domain/disclosure.py): an acknowledged edit
// leaves them to the pulled record, so a NIK typed here stays only while it waits to be sent.
const SERVER_MASKED = { persons: ['nik'] };

function withoutMasked(entry) {
  const masked = SERVER_MASKED[entry.entity];
  if (!masked || !entry.fields) return entry;
  const fields = { ...entry.fields };
  const base = entry.base ? { ...entry.base } : entry.base;
  for (const name of masked) {
    delete fields[name];
    if (base) delete base[name];
  }
  return { ...entry, fields, base };
}

// Acknowledged edits: the server has them, so each becomes part of the server's copy (with
// the server's clock if the phone's date was wrong) until the pulled record replaces it.
async function acknowledge(s, session, answer, clamped, touched) {
  const acked = await done(s.outbox.getAll(IDBKeyRange.upperBound(answer.last_mutation_id)));
  for (const entry of acked) {
    const row = await done(s.records.get([entry.entity, entry.id]));
    const hlc = clamped.get(entry.mutation_id) || entry.hlc;
    if (row) {
      try {
        const mutation = mutationOf({ ...withoutMasked(entry), hlc }, session);
        [row.server] = applyMutation(row.server, mutation, KINDS[entry.entity] || {});
        await done(s.records.put(row));
      } catch (error) {
        if (!(error instanceof MergeRefused)) throw error;
      }
    }
    await done(s.outbox.delete(entry.mutation_id));
    touched.add(entry.entity, entry.id);
  }
}

// The clock the next edit follows: the server's where it clamped ours (unless edits made
// meanwhile are later); back in server time, after the edits still to be sent, when the
// offset changed.
async function adoptClock(s, clamped, offset) {
  let last = (await done(s.meta.get('hlc'))) || null;
  if (clamped.size) {
    const remaining = await done(s.outbox.getAll());
    last = latest([...clamped.values(), ...remaining.map((e) => e.hlc)]);
  }
  if (typeof offset === 'number' && offset !== (await done(s.meta.get('clock_offset_ms')))) {
    await done(s.meta.put(offset, 'clock_offset_ms'));
    const remaining = await done(s.outbox.getAll());
    last = latest([...clamped.values(), ...remaining.map((e) => e.hlc)]);
    if (!last) await done(s.meta.delete('hlc'));
  }
  return last;
}

// The server's data changed under us: forget the pulled copies, keep what waits.
async function reset(s, session, answer, last) {
  await done(s.records.clear());
  await done(s.conflicts.clear());
  await done(s.meta.put(0, 'cursor'));
  await done(s.meta.put(null, 'snapshot'));
  const touched = new Touched();
  for (const entry of await done(s.outbox.getAll())) touched.add(entry.entity, entry.id);
  for (const entry of await done(s.refused.getAll())) touched.add(entry.entity, entry.id);
  for (const [entity, id] of touched.values()) await rebuild(s, session, entity, id);
  await done(s.meta.put(last, 'hlc'));
  return { entities: [...Object.keys(KINDS), 'conflicts'], reset: answer.reset };
}

// Pulled changes; returns the latest clock seen in them.
async function applyChanges(s, session, changes, touched, entities) {
  let seen = null;
  for (const change of changes) {
    entities.add(change.entity);
    if (change.entity === 'conflicts') {
      await putConflict(s, { ...change.record, id: change.id });
      continue;
    }
    if (!KINDS[change.entity]) {
      // Pulled only (possible duplicates): read-only here, kept as the server sends them.
      await done(s.records.put({
        entity: change.entity, id: change.id, server: null, derived: null, pending: false,
        record: { ...change.record, id: change.id, _clocks: {} },
        updated: String(change.seq).padStart(16, '0'),
      }));
      continue;
    }
    // Compact on the wire (§10); a partial change leaves out what this phone wrote itself
    // and holds already (acknowledged above), so it is laid over the phone's copy.
    let record;
    let derived = change.derived ?? null;
    if (change.partial) {
      const row = await done(s.records.get([change.entity, change.id]));
      record = applyPartial(row?.server ?? null, change.record, change.id);
      if (!('derived' in change)) derived = row?.derived ?? null;
    } else {
      record = expand(change.record, change.id);
    }
    seen = latest([record._deleted, ...Object.values(record._clocks || {})].filter(Boolean), seen);
    touched.drop(change.entity, change.id);
    await rebuild(s, session, change.entity, change.id, { server: record, derived });
  }
  return seen;
}

// Why records left, counted as the sync screen says it: after a withdrawal of consent or an
// erasure the persons (their records go with them), after a move every record. An unknown
// reason counts as scope_left (docs/sync-protocol.md §12).
const PERSON_REASONS = new Set(['consent_withdrawn', 'erased']);
function countRemoved(removed, by) {
  const out = { ...by };
  for (const { entity, reason } of removed) {
    const why = PERSON_REASONS.has(reason) ? reason : 'scope_left';
    if (why !== 'scope_left' && entity !== 'persons') continue;
    out[why] = (out[why] || 0) + 1;
  }
  return out;
}

// After a withdrawal of consent or an erasure nothing about the person may stay: edits of
// the records, or of new records naming them, still waiting or set aside go too (the server
// refuses them all, processing_stopped).
async function dropEditsAbout(s, session, gone) {
  const about = (e) => gone.has(e.id) || gone.has(e.fields?.person_id)
    || gone.has(e.fields?.referral_id);
  const dropped = new Touched();
  for (const store of [s.outbox, s.refused]) {
    for (const entry of await done(store.getAll())) {
      if (!about(entry)) continue;
      await done(store.delete(entry.mutation_id));
      dropped.add(entry.entity, entry.id);
    }
  }
  for (const [entity, id] of dropped.values()) await rebuild(s, session, entity, id);
}

// Records that left the user's scope or every phone (pushed edits of them were answered
// above): they go with their drafts and conflicts, and the sync screen says how many and why.
async function applyRemoved(s, session, removed, touched, entities) {
  if (!removed.length) return;
  const ids = new Set(removed.map((r) => r.id));
  const gone = new Set(removed.filter((r) => PERSON_REASONS.has(r.reason)).map((r) => r.id));
  if (gone.size) await dropEditsAbout(s, session, gone);
  for (const { entity, id } of removed) {
    // Without the server's copy only edits still waiting to be sent stay (to be refused).
    await rebuild(s, session, entity, id, { server: null, derived: null });
    touched.drop(entity, id);
    entities.add(entity);
  }
  for (const c of await done(s.conflicts.getAll())) {
    if (ids.has(c.record_id)) await done(s.conflicts.delete(c.id));
  }
  for (const key of await done(s.drafts.getAllKeys())) {
    if (ids.has(String(key).split(':').pop())) await done(s.drafts.delete(key));
  }
  const before = (await done(s.meta.get('removed'))) || { n: 0 };
  await done(s.meta.put({
    n: before.n + removed.length, reason: removed[0].reason, at: new Date().toISOString(),
    by: countRemoved(removed, before.by || (before.n ? { scope_left: before.n } : {})),
  }, 'removed'));
  entities.add('conflicts');
}

// What this phone has seen: its next edit must sort after it, whatever its own date.
async function keepClock(s, session, last, seen) {
  const wall = Date.now() - ((await done(s.meta.get('clock_offset_ms'))) || 0);
  if (seen && (!last || seen > last)) {
    last = last ? receive(last, seen, wall) : hlcNow(session.node, seen, wall);
  }
  if (last) await done(s.meta.put(last, 'hlc'));
}

async function applyAnswer(s, answer, clientId, offset) {
  const session = await sameSession(s, clientId);
  if (!session) return { entities: [], reset: null, stale: true };
  const touched = new Touched();
  const entities = new Set();
  // Refused first: they are at or below last_mutation_id but must not count as applied.
  for (const [entity, id] of await moveRefused(s, answer.refused || [])) touched.add(entity, id);
  const clamped = new Map((answer.clamped || []).map((c) => [c.mutation_id, c.hlc]));
  await acknowledge(s, session, answer, clamped, touched);
  const last = await adoptClock(s, clamped, offset);
  if (answer.reset) return reset(s, session, answer, last);
  const seen = await applyChanges(s, session, answer.changes || [], touched, entities);
  await applyRemoved(s, session, answer.removed || [], touched, entities);
  for (const [entity, id] of touched.values()) {
    entities.add(entity);
    await rebuild(s, session, entity, id);
  }
  await keepClock(s, session, last, seen);
  await done(s.meta.put(answer.cursor, 'cursor'));
  // A full download under way: its next page is asked with this snapshot.
  await done(s.meta.put(answer.snapshot ?? null, 'snapshot'));
  return { entities: [...entities], reset: null };
}

/** Apply one sync answer of clientId in ONE transaction; offset: the phone's clock offset
 *  in ms when the answer showed one. Returns {entities, reset, stale}. */
export async function applySyncAnswer(answer, clientId, offset) {
  return tx(STORES, 'readwrite', (s) => applyAnswer(s, answer, clientId, offset));
}
