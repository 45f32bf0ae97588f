/** The local replica: one row per record (the server's copy, pending and set-aside edits
 *  replayed on top), read by the screens; the row helpers the outbox and sync answers use. */

import { nodeOf } from '../hlc.js';
import { applyMutation, MergeRefused } from '../merge.js';
import { tx, done } from './idb.js';

/** How each synced entity merges (server/sync_registry.py): which refuse updates or deletes. */
export const KINDS = {
  visits: {},
  persons: { archive_only: true },
  consents: {},
  migration_plans: {},
  referrals: {},
  referral_events: { insert_only: true },
};

/** The latest clock of a record: rows are listed newest first by it. */
export const updatedOf = (record) => {
  let top = record._deleted || '';
  for (const c of Object.values(record._clocks)) if (c > top) top = c;
  return top;
};

/** An outbox entry as the mutation the merge (and the server) applies. */
export function mutationOf(entry, session) {
  return {
    ...entry, node: nodeOf(entry.hlc), client_id: session.clientId,
    author: String(session.user.id),
  };
}

/** What the screens see of a row: the record, pending, derived, refused. */
export function view(row) {
  if (!row) return undefined;
  const out = { ...row.record, pending: row.pending };
  if (row.derived != null) out.derived = row.derived;
  if (row.refused) out.refused = row.refused;
  return out;
}

/** A record with edits applied in mutation order (refused merges are left out). */
export function replay(record, entries, session, entity) {
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
const refusalOf = ({ mutation_id, reason, message, errors }) => (
  { mutation_id, reason, message, errors });

/** Rewrite one row inside a transaction over records, outbox, refused.
 *  The local view is the server's copy with the pending outbox edits on top (the server's
 *  copy wins for what it has acknowledged, e.g. a normalised phone number). Edits the server
 *  refused stay in view too, marked with why, until the user fixes them (an edit of this
 *  same record) or lets them go: a record never silently disappears. */
export async function rebuild(s, session, entity, id, patch = {}) {
  const row = (await done(s.records.get([entity, id])))
    || { entity, id, server: null, derived: null };
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

/** The local record {id, ...fields, _clocks, ..., derived?, pending}, or undefined. */
export async function getRecord(entity, id) {
  return view(await tx(['records'], 'readonly', (s) => done(s.records.get([entity, id]))));
}

/** The entity's records, tombstones left out, newest first by their latest clock;
 *  filterFn optional. */
export async function listRecords(entity, filterFn) {
  const range = IDBKeyRange.bound([entity], [entity, []]);
  const rows = await tx(['records'], 'readonly',
    (s) => done(s.records.index('updated').getAll(range)));
  const out = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    if (rows[i].record._deleted != null) continue;
    const record = view(rows[i]);
    if (!filterFn || filterFn(record)) out.push(record);
  }
  return out;
}
