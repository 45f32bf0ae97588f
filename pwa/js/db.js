/** The app's storage on this phone, one import for the screens: the modules of store/. */

export { getMeta, setMeta } from './store/meta.js';
export {
  getSession, startSession, clearAll, wipedBecause, hasPin,
} from './store/session.js';
export { KINDS, getRecord, listRecords } from './store/replica.js';
export {
  saveEdit, pendingCount, listOutbox, listRefused, refusedCount, dismissRefused, refuseMutations,
} from './store/outbox.js';
export { applySyncAnswer } from './store/answer.js';
export { listConflicts, getConflict, markConflictResolved } from './store/conflicts.js';
export { saveDraft, loadDraft, clearDraft } from './store/drafts.js';
