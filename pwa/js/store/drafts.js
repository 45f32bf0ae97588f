/** Drafts: what a form holds, kept as the user types, by a key such as 'visit:new'. */

import { tx, done } from './idb.js';

/** Keep what a form holds, as the user types. */
export async function saveDraft(key, data) {
  const draft = { data, saved_at: new Date().toISOString() };
  return tx(['drafts'], 'readwrite', (s) => done(s.drafts.put(draft, key)));
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
