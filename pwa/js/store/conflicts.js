/** Conflict entries pulled from the server, and which of them were resolved on this phone. */

import { tx, done } from './idb.js';

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

/** Keep a pulled conflict entry; one resolved here while offline stays out of the open list. */
export async function putConflict(s, entry) {
  const old = await done(s.conflicts.get(entry.id));
  if (old && old.resolved_locally && !entry.resolved_at) {
    Object.assign(entry, { resolved_at: old.resolved_at, resolved_locally: true });
  }
  await done(s.conflicts.put(entry));
}
