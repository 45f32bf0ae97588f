/** Drafts of the open forms: saved as the user types (debounced), written at once when the page
 *  is hidden, cleared once the form is saved. The one place screens reach draft storage. */

import { saveDraft, loadDraft, clearDraft } from '../db.js';
import { setDirty } from '../ui.js';

const pending = new Map();

/** A draft of one form: load(), save() as the user types, flush() now, clear() once saved. */
export function draft(key, getState) {
  const write = () => {
    clearTimeout(pending.get(key)?.timer);
    pending.delete(key);
    return saveDraft(key, getState());
  };
  return {
    load: () => loadDraft(key),
    save() {
      setDirty(true);
      clearTimeout(pending.get(key)?.timer);
      pending.set(key, { write, timer: setTimeout(write, 250) });
    },
    flush: () => (pending.has(key) ? write() : undefined),
    async clear() {
      clearTimeout(pending.get(key)?.timer);
      pending.delete(key);
      await clearDraft(key);
      setDirty(false);
    },
  };
}

/** Write every waiting draft now (the page is being hidden, or the screen changes). */
export function flushDrafts() {
  for (const { write } of [...pending.values()]) write();
}
