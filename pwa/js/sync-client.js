/** The sync loop: push the outbox and pull changes in one POST /api/sync, with the truth in getStatus(). */

import { ApiError, request, checkSyncAnswer } from './api.js';
import * as db from './db.js';

const PROTOCOL = 1;
const PUSH_LIMIT = 500;
const PULL_LIMIT = 1000;
const MAX_ROUNDS = 50;
const EVERY_MS = 5 * 60 * 1000;
const MAX_SKEW_MS = 5 * 60 * 1000;
const SYNC_TAG = 'jangkau-sync';
const LOCK = 'jangkau-sync';

const MESSAGES = {
  offline: { id: 'Tidak ada sinyal — data tersimpan di HP ini.', en: 'No signal — the data is kept on this phone.' },
  timeout: { id: 'Sinyal terlalu lemah, server tidak menjawab. Data tersimpan di HP ini; dicoba lagi nanti.', en: 'The signal is too weak; the server did not answer. The data is kept on this phone; trying again later.' },
  unauthorized: { id: 'Sesi Anda berakhir. Silakan masuk lagi — data di HP ini tetap aman.', en: 'Your session has ended. Please log in again — the data on this phone is safe.' },
  server: { id: 'Server sedang bermasalah. Data tersimpan di HP ini; dicoba lagi nanti.', en: 'The server has a problem. The data is kept on this phone; trying again later.' },
  local: { id: 'Penyimpanan di HP ini bermasalah saat sinkronisasi. Data yang belum terkirim tetap disimpan.', en: 'Storage on this phone failed during sync. Unsent data is still kept.' },
  clock: { id: 'Tanggal di HP ini salah. Perbaiki tanggal dan jam di pengaturan HP.', en: "The phone's date is wrong. Fix the date and time in the phone's settings." },
};

const state = { online: navigator.onLine, syncing: false, pending: 0, lastSync: null, lastError: null, clockWarning: null, refused: 0 };
let running = null;
let started = false;
let retryTimer = null;
let retryDelay = 15000;
// While backing off, a wake-up from the service worker is no reason to try again early.
let nextAttemptAt = 0;
let soonTimer = null;
let pushLimit = PUSH_LIMIT;

/** {online, syncing, pending, lastSync, lastError: {id, en, reason}|null, clockWarning: {id, en}|null, refused}. */
export function getStatus() {
  return { ...state };
}

function update(patch) {
  const before = JSON.stringify(state);
  Object.assign(state, patch);
  if (JSON.stringify(state) !== before) window.dispatchEvent(new CustomEvent('jangkau:status', { detail: getStatus() }));
}

async function refreshCounts() {
  const [pending, refused, lastSync] = await Promise.all([db.pendingCount(), db.refusedCount(), db.getMeta('last_sync')]);
  update({ pending, refused, lastSync: lastSync || null });
}

function errorFor(error) {
  if (!(error instanceof ApiError)) {
    console.error('sync failed', error);
    return { ...MESSAGES.local, reason: 'local' };
  }
  if (error.status === 0) return { ...MESSAGES[error.reason === 'timeout' ? 'timeout' : 'offline'], reason: error.reason };
  // Not the API's answer (a gateway's page, a captive portal): api.js words it.
  if (error.reason === 'unreachable' || error.reason === 'captive') return { id: error.message_id, en: error.message_en, reason: error.reason };
  if (error.status === 401) return { ...MESSAGES.unauthorized, reason: 'unauthorized' };
  if (error.status >= 500 || !error.message_id) return { ...MESSAGES.server, reason: 'server' };
  return { id: error.message_id, en: error.message_en, reason: error.reason };
}

const wire = ({ mutation_id, entity, id, op, fields, hlc, base, offset_ms }) => ({ mutation_id, entity, id, op, fields, hlc, ...(base ? { base } : {}), ...(offset_ms != null ? { offset_ms } : {}) });

// Only the server's refusal by mutation id sets a mutation aside (docs/sync-protocol.md §11):
// a whole-batch 422 whose code is invalid_batch, keyed by the ids of mutations this batch
// sent. Any other failure names nothing, and nothing is set aside on a guess.
function namedMutations(error, sent) {
  if (error.status !== 422 || error.code !== 'invalid_batch') return null;
  const named = error.fields && error.fields.mutations;
  if (!named || typeof named !== 'object' || Array.isArray(named)) return null;
  const byId = new Map(sent.map((m) => [String(m.mutation_id), m]));
  const keys = Object.keys(named);
  if (!keys.length || !keys.every((k) => byId.has(k))) return null;
  return keys.map((k) => ({ mutation_id: byId.get(k).mutation_id, reason: 'invalid', message: { id: error.message_id, en: error.message_en }, fields: named[k] }));
}

// A 5xx that repeats for the same oldest mutation may be one record the server cannot
// handle: smaller batches (the lower ids first) let the mutations before it through. Never
// a reason to set anything aside: an outage or a gateway looks just the same.
const failing = { first: null, count: 0 };

function serverFailed(sent) {
  if (!sent.length) return;
  const first = sent[0].mutation_id;
  failing.count = failing.first === first ? failing.count + 1 : 1;
  failing.first = first;
  if (failing.count >= 2 && sent.length > 1) pushLimit = Math.ceil(sent.length / 2);
}

// Half the round trip is the best guess of when the server read its clock.
const skewOf = (clock, sentAt) => (typeof clock.server_time_ms === 'number' ? (sentAt + Date.now()) / 2 - clock.server_time_ms : null);

function checkClock(answer, sentAt) {
  const clock = answer.clock || {};
  if (clock.warning) return { id: clock.warning.id, en: clock.warning.en };
  const skew = skewOf(clock, sentAt);
  if (skew === null) return state.clockWarning;
  return Math.abs(skew) > MAX_SKEW_MS ? MESSAGES.clock : null;
}

async function rounds() {
  const session = await db.getSession();
  if (!session) return;
  if (!navigator.onLine) {
    update({ online: false, lastError: { ...MESSAGES.offline, reason: 'offline' } });
    return;
  }
  update({ online: true, syncing: true });
  try {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const sent = (await db.listOutbox()).slice(0, pushLimit);
      const sentAt = Date.now();
      const body = { protocol: PROTOCOL, client_id: session.clientId, cursor: (await db.getMeta('cursor')) || 0, mutations: sent.map(wire), pull_limit: PULL_LIMIT, device_time_ms: sentAt, snapshot: (await db.getMeta('snapshot')) ?? null };
      let answer;
      try {
        answer = checkSyncAnswer(await request('POST', '/api/sync', body, session.token, { gzip: true, timeoutMs: 60000 }));
      } catch (error) {
        const refusals = namedMutations(error, sent);
        if (refusals) {
          // One bad edit must not block the queue: set it aside for the user, send the rest.
          await db.refuseMutations(refusals, session.clientId);
          continue;
        }
        if (error.status === 413 && sent.length > 1) {
          pushLimit = Math.ceil(sent.length / 2);
          continue;
        }
        if (error.status >= 500) serverFailed(sent);
        throw error;
      }
      failing.first = null;
      pushLimit = Math.min(PUSH_LIMIT, pushLimit * 2);
      // Edits are stamped in server time (§15): the phone's clock minus a wrong date's offset.
      const skew = skewOf(answer.clock || {}, sentAt);
      const offset = skew === null ? undefined : Math.abs(skew) > MAX_SKEW_MS ? Math.round(skew) : 0;
      const { entities, reset, stale } = await db.applySyncAnswer(answer, session.clientId, offset);
      // Logged out (or in as someone else) while the answer was on its way.
      if (stale) return;
      update({ clockWarning: checkClock(answer, sentAt) });
      await refreshCounts();
      if (entities.length) window.dispatchEvent(new CustomEvent('jangkau:data', { detail: { entities } }));
      if (reset || answer.more) continue;
      // Edits saved while this round was on the way, or more than one batch: go on (as
      // long as the server acknowledged what it was sent, so nothing loops).
      const acked = !sent.length || answer.last_mutation_id >= sent[sent.length - 1].mutation_id;
      if (state.pending > 0 && acked) continue;
      break;
    }
    const lastSync = new Date().toISOString();
    await db.setMeta('last_sync', lastSync);
    retryDelay = 15000;
    nextAttemptAt = 0;
    update({ lastSync, lastError: null });
  } catch (error) {
    update({ lastError: errorFor(error) });
    if (error.status !== 401) retryLater();
  }
}

// Patchy signal: try again soon, then less and less often, never more than every 5 minutes.
function retryLater() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => syncNow(), retryDelay);
  nextAttemptAt = Date.now() + retryDelay;
  retryDelay = Math.min(retryDelay * 2, EVERY_MS);
  registerBackgroundSync();
}

// Background Sync wakes the app when the signal comes back. The browser fires it at once
// while it believes it is online, so it is asked for only offline: online, the back-off
// timer above decides when to try again.
function registerBackgroundSync() {
  if (!('serviceWorker' in navigator) || navigator.onLine) return;
  navigator.serviceWorker.ready.then((reg) => reg.sync && reg.sync.register(SYNC_TAG)).catch(() => {});
}

/** One sync (round trips while `more`); never two at once, also across tabs; resolves to getStatus(). */
export function syncNow() {
  running ??= (async () => {
    try {
      // Web Locks keep two tabs from sending the same outbox at the same time.
      await (navigator.locks ? navigator.locks.request(LOCK, rounds) : rounds());
    } catch (error) {
      update({ lastError: errorFor(error) });
    } finally {
      running = null;
      update({ syncing: false });
      await refreshCounts().catch(() => {});
    }
    return getStatus();
  })();
  return running;
}

/** Sync at start, on 'online', every 5 minutes while visible, on the worker's 'sync' message, and soon after an edit. */
export function startAutoSync() {
  if (started) return;
  started = true;
  window.addEventListener('online', () => syncNow());
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('message', (event) => {
      if (event.data && event.data.type === 'sync' && Date.now() >= nextAttemptAt) syncNow();
    });
  }
  setInterval(() => {
    if (document.visibilityState === 'visible') syncNow();
  }, EVERY_MS);
  document.addEventListener('visibilitychange', () => {
    const stale = !state.lastSync || Date.now() - Date.parse(state.lastSync) > 60000;
    if (document.visibilityState === 'visible' && stale) syncNow();
  });
  window.addEventListener('jangkau:outbox', () => {
    // Where Background Sync exists the worker wakes us when the signal returns.
    registerBackgroundSync();
    clearTimeout(soonTimer);
    if (navigator.onLine) soonTimer = setTimeout(() => syncNow(), 2000);
  });
  syncNow();
}

/** Keep a value for a conflict: online through the server, offline as a local edit of the field. */
export async function resolveConflict(conflictId, value) {
  const conflict = await db.getConflict(conflictId);
  if (!conflict) throw new Error(`unknown conflict ${conflictId}`);
  const session = await db.getSession();
  if (navigator.onLine && session) {
    try {
      const entry = await request('POST', `/api/conflicts/${encodeURIComponent(conflictId)}/resolve`, { value }, session.token);
      const local = await db.markConflictResolved(conflictId, entry.resolved_at);
      await syncNow();
      return local;
    } catch (error) {
      // No signal after all: the offline way below. Any other answer is the user's to see.
      if (error.status !== 0) throw error;
    }
  }
  await db.saveEdit(conflict.entity, conflict.record_id, { [conflict.field]: value });
  return db.markConflictResolved(conflictId, new Date().toISOString(), true);
}

// The status is true from the first moment, with or without auto sync.
window.addEventListener('online', () => update({ online: true }));
window.addEventListener('offline', () => update({ online: false }));
window.addEventListener('jangkau:outbox', () => refreshCounts().catch(() => {}));
refreshCounts().catch(() => {});
