/** The outbox: edits saved on this phone and waiting to be sent, and the edits the server
 *  refused, set aside with why. A record and its outbox entry are written in ONE transaction. */

import { ApiError } from '../api.js';
import { now as hlcNow } from '../hlc.js';
import { applyMutation } from '../merge.js';
import { STORES, tx, done, outboxChanged, dataChanged } from './idb.js';
import { KINDS, mutationOf, rebuild, replay, updatedOf, view } from './replica.js';
import { sameSession } from './session.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EDIT_STORES = ['records', 'outbox', 'refused', 'meta'];

// The refused ids are never sent again (docs/sync-protocol.md §11): what they held goes out
// in the new mutation, and `base` is taken from what the server has.
async function takeAside(s, session, edit, current) {
  const { entity, id } = edit;
  const aside = await done(s.refused.index('record').getAll([entity, id]));
  if (!aside.length) return aside;
  const pending = await done(s.outbox.index('record').getAll([entity, id]));
  edit.local = replay(current ? current.server : null, pending, session, entity);
  if (edit.op !== 'delete') {
    const held = aside.filter((r) => r.op !== 'delete').map((r) => r.fields);
    edit.sent = Object.assign({}, ...held, edit.sent);
  }
  if (edit.op === 'upsert' && aside.some((r) => r.op === 'insert')) edit.op = 'insert';
  return aside;
}

// The outbox entry, stamped in server time once an answer showed the phone's date is off
// (§15); the offset goes along. `base` is what the user saw: a knowing overwrite is no
// conflict, a blind one is logged.
async function entryOf(s, session, edit, base) {
  const offset = await done(s.meta.get('clock_offset_ms'));
  const last = (await done(s.meta.get('hlc'))) || null;
  const hlc = hlcNow(session.node, last, Date.now() - (offset || 0));
  const mutationId = (await done(s.meta.get('next_mutation_id'))) || 1;
  const entry = {
    mutation_id: mutationId, entity: edit.entity, id: edit.id, op: edit.op,
    fields: edit.sent, hlc, ...(typeof offset === 'number' ? { offset_ms: offset } : {}),
  };
  let seen = base;
  const local = edit.local;
  if (seen === undefined && local) {
    const names = edit.op === 'delete' ? Object.keys(local._clocks) : Object.keys(entry.fields);
    seen = Object.fromEntries(names.map((n) => [n, local._clocks[n] ?? null]));
  }
  if (seen) entry.base = seen;
  return entry;
}

async function writeEdit(s, edit, base) {
  const session = await done(s.meta.get('session'));
  if (!session) throw new ApiError(401, 'Silakan masuk terlebih dahulu.', 'Please log in first.');
  const current = await done(s.records.get([edit.entity, edit.id]));
  edit.local = current ? current.record : null;
  const aside = await takeAside(s, session, edit, current);
  const entry = await entryOf(s, session, edit, base);
  // Conflict entries this edit settles: a value chosen offline (docs/sync-protocol.md §18).
  if (edit.resolves && edit.resolves.length) entry.resolves = edit.resolves;
  // Throws MergeRefused (e.g. deleting a person) before anything is written.
  const [record] = applyMutation(edit.local, mutationOf(entry, session), KINDS[edit.entity]);
  await done(s.meta.put(entry.hlc, 'hlc'));
  await done(s.meta.put(entry.mutation_id + 1, 'next_mutation_id'));
  await done(s.outbox.add(entry));
  for (const r of aside) await done(s.refused.delete(r.mutation_id));
  const { refused: _fixed, ...kept } = current || {};
  const next = {
    entity: edit.entity, id: edit.id, server: null, derived: null, ...kept,
    record, pending: true, updated: updatedOf(record),
  };
  await done(s.records.put(next));
  return next;
}

/** Apply an edit locally and queue it, in ONE transaction; returns the new local record.
 *  base: clocks the user saw (default: the local copy's); resolves: conflict ids the edit
 *  settles (a value chosen offline). The record's set-aside edits go
 *  into this one (their values under the new ones): a fix is an edit of the same record,
 *  never a second record. */
export async function saveEdit(entity, id, fields, { op = 'upsert', base, resolves } = {}) {
  if (!KINDS[entity]) throw new Error(`unknown entity ${entity}`);
  // The server refuses a whole batch over a malformed id; better to fail here, at once.
  if (!UUID_RE.test(id)) throw new Error(`record id must be a UUID: ${id}`);
  const edit = { entity, id, op, sent: op === 'delete' ? {} : { ...fields }, resolves };
  const row = await tx(EDIT_STORES, 'readwrite', (s) => writeEdit(s, edit, base));
  outboxChanged();
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

/** Edits the server refused, kept for the user: the mutation plus {reason, message: {id, en},
 *  errors, refused_at, on_server} (on_server: the server has the record, so letting the edit
 *  go only undoes the edit). */
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

/** Let a refused edit go: its record goes back to what the server has (and is gone if the
 *  server never had it). */
export async function dismissRefused(mutationId) {
  const entity = await tx(STORES, 'readwrite', async (s) => {
    const entry = await done(s.refused.get(mutationId));
    const session = await done(s.meta.get('session'));
    if (!entry || !session) return null;
    await done(s.refused.delete(mutationId));
    await rebuild(s, session, entry.entity, entry.id);
    return entry.entity;
  });
  outboxChanged();
  if (entity) dataChanged([entity]);
}

/** Inside a transaction: move the named outbox entries to the refused store; returns the
 *  [entity, id] of each record they belong to. */
export async function moveRefused(s, refusals) {
  const moved = [];
  const refusedAt = new Date().toISOString();
  for (const r of refusals) {
    const entry = await done(s.outbox.get(r.mutation_id));
    if (!entry) continue;
    await done(s.refused.put({
      ...entry, reason: r.reason, message: r.message, errors: r.fields || null,
      refused_at: refusedAt,
    }));
    await done(s.outbox.delete(r.mutation_id));
    moved.push([entry.entity, entry.id]);
  }
  return moved;
}

/** Move the named outbox entries of clientId's session to the refused store (a 422 batch or
 *  a refused mutation); returns the entities touched. */
export async function refuseMutations(refusals, clientId) {
  return tx(STORES, 'readwrite', async (s) => {
    const session = await sameSession(s, clientId);
    if (!session) return [];
    const moved = await moveRefused(s, refusals);
    for (const [entity, id] of moved) await rebuild(s, session, entity, id);
    return [...new Set(moved.map(([entity]) => entity))];
  });
}
