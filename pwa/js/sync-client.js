/** The sync client: push the outbox and pull changes in one POST /api/sync, with the truth in
 *  getStatus(). Its state lives in a SyncClient; start() hooks it to the page (online, the
 *  worker's wake-up, a timer, new edits), stop() unhooks it. The app uses `syncClient`. */

import { ApiError, request, checkSyncAnswer } from './api.js';
import * as db from './db.js';

const PROTOCOL = 2;
const PUSH_LIMIT = 500;
const PULL_LIMIT = 1000;
const MAX_ROUNDS = 50;
const EVERY_MS = 5 * 60 * 1000;
const FIRST_RETRY_MS = 15000;
const MAX_SKEW_MS = 5 * 60 * 1000;
const SYNC_TAG = 'jangkau-sync';
const LOCK = 'jangkau-sync';

const MESSAGES = {
  offline: {
    id: 'Tidak ada sinyal — data tersimpan di HP ini.',
    en: 'No signal — the data is kept on this phone.',
  },
  timeout: {
    id: 'Sinyal terlalu lemah, server tidak menjawab. Data tersimpan di HP ini; dicoba lagi nanti.',
    en: 'The signal is too weak; the server did not answer. The data is kept on this phone; '
      + 'trying again later.',
  },
  unauthorized: {
    id: 'Sesi Anda berakhir. Silakan masuk lagi — data di HP ini tetap aman.',
    en: 'Your session has ended. Please log in again — the data on this phone is safe.',
  },
  server: {
    id: 'Server sedang bermasalah. Data tersimpan di HP ini; dicoba lagi nanti.',
    en: 'The server has a problem. The data is kept on this phone; trying again later.',
  },
  local: {
    id: 'Penyimpanan di HP ini bermasalah saat sinkronisasi. Data yang belum terkirim tetap '
      + 'disimpan.',
    en: 'Storage on this phone failed during sync. Unsent data is still kept.',
  },
  clock: {
    id: 'Tanggal di HP ini salah. Perbaiki tanggal dan jam di pengaturan HP.',
    en: "The phone's date is wrong. Fix the date and time in the phone's settings.",
  },
};

function errorFor(error) {
  if (!(error instanceof ApiError)) {
    console.error('sync failed', error);
    return { ...MESSAGES.local, reason: 'local' };
  }
  if (error.status === 0) {
    const words = MESSAGES[error.reason === 'timeout' ? 'timeout' : 'offline'];
    return { ...words, reason: error.reason };
  }
  // Not the API's answer (a gateway's page, a captive portal): api.js words it.
  if (error.reason === 'unreachable' || error.reason === 'captive') {
    return { id: error.message_id, en: error.message_en, reason: error.reason };
  }
  // A revoked phone erases its data (app.js); an idle token says so in the server's words.
  if (error.code === 'device_revoked' || error.code === 'session_expired') {
    return { id: error.message_id, en: error.message_en,
      reason: error.code === 'device_revoked' ? 'revoked' : 'unauthorized' };
  }
  if (error.status === 401) return { ...MESSAGES.unauthorized, reason: 'unauthorized' };
  // This app speaks an older protocol: only an update helps (docs/sync-protocol.md §3).
  if (error.code === 'client_outdated') {
    return { id: error.message_id, en: error.message_en, reason: 'outdated' };
  }
  if (error.status >= 500 || !error.message_id) return { ...MESSAGES.server, reason: 'server' };
  return { id: error.message_id, en: error.message_en, reason: error.reason };
}

const wire = ({ mutation_id, entity, id, op, fields, hlc, base, offset_ms, resolves }) => ({
  mutation_id, entity, id, op, fields, hlc,
  ...(base ? { base } : {}), ...(offset_ms != null ? { offset_ms } : {}),
  ...(resolves ? { resolves } : {}),
});

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
  const message = { id: error.message_id, en: error.message_en };
  return keys.map((k) => (
    { mutation_id: byId.get(k).mutation_id, reason: 'invalid', message, fields: named[k] }));
}

// Half the round trip is the best guess of when the server read its clock.
const skewOf = (clock, sentAt) => (typeof clock.server_time_ms === 'number'
  ? (sentAt + Date.now()) / 2 - clock.server_time_ms : null);

/** One phone's sync loop: its status, back-off and batch size; start() and stop() hook it to
 *  the page. Two clients share the storage and never send the outbox at the same time. */
export class SyncClient {
  /** target: where 'jangkau:status' and 'jangkau:data' go (the app's: window). */
  constructor({ target = new EventTarget() } = {}) {
    this.target = target;
    this.state = {
      online: navigator.onLine, syncing: false, pending: 0, lastSync: null, lastError: null,
      clockWarning: null, refused: 0, conflicts: 0,
    };
    this.running = null;
    this.stops = [];
    this.retryTimer = null;
    this.retryDelay = FIRST_RETRY_MS;
    // While backing off, a wake-up from the service worker is no reason to try again early.
    this.nextAttemptAt = 0;
    this.soonTimer = null;
    this.pushLimit = PUSH_LIMIT;
    // A 5xx that repeats for the same oldest mutation (see serverFailed).
    this.failing = { first: null, count: 0 };
    // The server said this app is too old (426 client_outdated).
    this.outdated = false;
  }

  /** {online, syncing, pending, lastSync, lastError: {id, en, reason}|null,
   *  clockWarning: {id, en}|null, refused, conflicts (open ones)}. */
  getStatus() {
    return { ...this.state };
  }

  /** True between start() and stop(). */
  get started() {
    return this.stops.length > 0;
  }

  update(patch) {
    const before = JSON.stringify(this.state);
    Object.assign(this.state, patch);
    if (JSON.stringify(this.state) !== before) {
      this.target.dispatchEvent(new CustomEvent('jangkau:status', { detail: this.getStatus() }));
    }
  }

  async refreshCounts() {
    const [pending, refused, lastSync, open] = await Promise.all(
      [db.pendingCount(), db.refusedCount(), db.getMeta('last_sync'),
        db.listConflicts({ open: true })]);
    this.update({ pending, refused, lastSync: lastSync || null, conflicts: open.length });
  }

  // A 5xx that repeats for the same oldest mutation may be one record the server cannot
  // handle: smaller batches (the lower ids first) let the mutations before it through. Never
  // a reason to set anything aside: an outage or a gateway looks just the same.
  serverFailed(sent) {
    if (!sent.length) return;
    const first = sent[0].mutation_id;
    this.failing.count = this.failing.first === first ? this.failing.count + 1 : 1;
    this.failing.first = first;
    if (this.failing.count >= 2 && sent.length > 1) this.pushLimit = Math.ceil(sent.length / 2);
  }

  checkClock(answer, sentAt) {
    const clock = answer.clock || {};
    if (clock.warning) return { id: clock.warning.id, en: clock.warning.en };
    const skew = skewOf(clock, sentAt);
    if (skew === null) return this.state.clockWarning;
    return Math.abs(skew) > MAX_SKEW_MS ? MESSAGES.clock : null;
  }

  // One POST: the answer, or null when the batch was cut or set aside and is to be sent again.
  async exchange(session, sent, sentAt) {
    const body = {
      protocol: PROTOCOL, client_id: session.clientId, cursor: (await db.getMeta('cursor')) || 0,
      mutations: sent.map(wire), pull_limit: PULL_LIMIT, device_time_ms: sentAt,
      snapshot: (await db.getMeta('snapshot')) ?? null,
    };
    const options = { gzip: true, timeoutMs: 60000 };
    try {
      return checkSyncAnswer(await request('POST', '/api/sync', body, session.token, options));
    } catch (error) {
      const refusals = namedMutations(error, sent);
      if (refusals) {
        // One bad edit must not block the queue: set it aside for the user, send the rest.
        await db.refuseMutations(refusals, session.clientId);
        return null;
      }
      if (error.status === 413 && sent.length > 1) {
        this.pushLimit = Math.ceil(sent.length / 2);
        return null;
      }
      if (error.status >= 500) this.serverFailed(sent);
      throw error;
    }
  }

  // One round trip; true when another is to follow, null when the session went away.
  async round(session) {
    const sent = (await db.listOutbox()).slice(0, this.pushLimit);
    const sentAt = Date.now();
    const answer = await this.exchange(session, sent, sentAt);
    if (!answer) return true;
    this.failing.first = null;
    this.pushLimit = Math.min(PUSH_LIMIT, this.pushLimit * 2);
    // Edits are stamped in server time (§15): the phone's clock minus a wrong date's offset.
    const skew = skewOf(answer.clock || {}, sentAt);
    const offset = skew === null ? undefined : Math.abs(skew) > MAX_SKEW_MS ? Math.round(skew) : 0;
    const { entities, reset, stale } = await db.applySyncAnswer(answer, session.clientId, offset);
    // Logged out (or in as someone else) while the answer was on its way.
    if (stale) return null;
    this.update({ clockWarning: this.checkClock(answer, sentAt) });
    await this.refreshCounts();
    if (entities.length) {
      this.target.dispatchEvent(new CustomEvent('jangkau:data', { detail: { entities } }));
    }
    if (reset || answer.more) return true;
    // Edits saved while this round was on the way, or more than one batch: go on (as long
    // as the server acknowledged what it was sent, so nothing loops).
    const acked = !sent.length || answer.last_mutation_id >= sent[sent.length - 1].mutation_id;
    return this.state.pending > 0 && acked;
  }

  async rounds() {
    const session = await db.getSession();
    if (!session) return;
    if (!navigator.onLine) {
      this.update({ online: false, lastError: { ...MESSAGES.offline, reason: 'offline' } });
      return;
    }
    this.update({ online: true, syncing: true });
    try {
      for (let n = 0; n < MAX_ROUNDS; n++) {
        const more = await this.round(session);
        if (more === null) return;
        if (!more) break;
      }
      const lastSync = new Date().toISOString();
      await db.setMeta('last_sync', lastSync);
      this.retryDelay = FIRST_RETRY_MS;
      this.nextAttemptAt = 0;
      this.update({ lastSync, lastError: null });
    } catch (error) {
      const lastError = errorFor(error);
      this.update({ lastError });
      if (lastError.reason === 'outdated') {
        // Retrying cannot help: the outbox waits, and the app looks for its new version.
        this.outdated = true;
        this.target.dispatchEvent(new CustomEvent('jangkau:outdated'));
      } else if (error.status !== 401) this.retryLater();
    }
  }

  // Patchy signal: try again soon, then less and less often, never more than every 5 minutes.
  retryLater() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.syncNow(), this.retryDelay);
    this.nextAttemptAt = Date.now() + this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, EVERY_MS);
    registerBackgroundSync();
  }

  /** One sync (round trips while `more`); never two at once, also across clients and tabs;
   *  resolves to getStatus(). */
  syncNow() {
    // The server answered 426: nothing is sent again until the updated app reloads.
    if (this.outdated) return Promise.resolve(this.getStatus());
    this.running ??= (async () => {
      try {
        // Web Locks keep two tabs from sending the same outbox at the same time.
        const rounds = () => this.rounds();
        await (navigator.locks ? navigator.locks.request(LOCK, rounds) : rounds());
      } catch (error) {
        this.update({ lastError: errorFor(error) });
      } finally {
        this.running = null;
        this.update({ syncing: false });
        await this.refreshCounts().catch(() => {});
      }
      return this.getStatus();
    })();
    return this.running;
  }

  listen(target, type, fn) {
    target.addEventListener(type, fn);
    this.stops.push(() => target.removeEventListener(type, fn));
  }

  /** Keep the status true and sync: now, on 'online', every 5 minutes while visible, on the
   *  worker's 'sync' message (unless backing off), soon after an edit. */
  start() {
    if (this.started) return;
    this.listen(window, 'online', () => {
      this.update({ online: true });
      this.syncNow();
    });
    this.listen(window, 'offline', () => this.update({ online: false }));
    this.listen(window, 'jangkau:outbox', () => this.edited());
    if ('serviceWorker' in navigator) {
      this.listen(navigator.serviceWorker, 'message', (event) => {
        const wake = event.data && event.data.type === 'sync';
        if (wake && Date.now() >= this.nextAttemptAt) this.syncNow();
      });
    }
    this.listen(document, 'visibilitychange', () => {
      const last = this.state.lastSync;
      const stale = !last || Date.now() - Date.parse(last) > 60000;
      if (document.visibilityState === 'visible' && stale) this.syncNow();
    });
    const every = setInterval(() => {
      if (document.visibilityState === 'visible') this.syncNow();
    }, EVERY_MS);
    this.stops.push(() => clearInterval(every));
    // The status is true from the first moment: what waits is shown before any answer.
    this.update({ online: navigator.onLine });
    this.refreshCounts().catch(() => {});
    this.syncNow();
  }

  /** Unhook from the page: no listener, no timer of this client stays. */
  stop() {
    for (const undo of this.stops.splice(0)) undo();
    clearTimeout(this.retryTimer);
    clearTimeout(this.soonTimer);
    this.retryTimer = null;
    this.soonTimer = null;
  }

  edited() {
    this.refreshCounts().catch(() => {});
    // Where Background Sync exists the worker wakes us when the signal returns.
    registerBackgroundSync();
    clearTimeout(this.soonTimer);
    if (navigator.onLine) this.soonTimer = setTimeout(() => this.syncNow(), 2000);
  }

  /** Keep a value for a conflict: online through the server, offline as a local edit of the
   *  field. */
  async resolveConflict(conflictId, value) {
    const conflict = await db.getConflict(conflictId);
    if (!conflict) throw new Error(`unknown conflict ${conflictId}`);
    const session = await db.getSession();
    if (navigator.onLine && session) {
      try {
        const path = `/api/conflicts/${encodeURIComponent(conflictId)}/resolve`;
        const entry = await request('POST', path, { value }, session.token);
        const local = await db.markConflictResolved(conflictId, entry.resolved_at);
        await this.refreshCounts();
        await this.syncNow();
        return local;
      } catch (error) {
        // No signal after all: the offline way below. Any other answer is the user's to see.
        if (error.status !== 0) throw error;
      }
    }
    // Offline: an ordinary edit of the field that names the entry it settles, so the
    // server marks it resolved when the edit arrives.
    const fields = { [conflict.field]: value };
    await db.saveEdit(conflict.entity, conflict.record_id, fields, { resolves: [conflictId] });
    const local = await db.markConflictResolved(conflictId, new Date().toISOString(), true);
    await this.refreshCounts();
    return local;
  }
}

// Background Sync wakes the app when the signal comes back. The browser fires it at once
// while it believes it is online, so it is asked for only offline: online, the back-off
// timer decides when to try again.
function registerBackgroundSync() {
  if (!('serviceWorker' in navigator) || navigator.onLine) return;
  navigator.serviceWorker.ready.then((reg) => reg.sync && reg.sync.register(SYNC_TAG))
    .catch(() => {});
}

/** The app's client: its events go to window, where the screens listen. */
export const syncClient = new SyncClient({ target: window });

/** The app's status (see SyncClient.getStatus). */
export const getStatus = () => syncClient.getStatus();
/** Sync now with the app's client. */
export const syncNow = () => syncClient.syncNow();
/** Start the app's client (once). */
export const startAutoSync = () => syncClient.start();
/** Unhook the app's client from the page (the data is about to be erased or sealed). */
export const stopAutoSync = () => syncClient.stop();
/** Resolve a conflict through the app's client. */
export const resolveConflict = (id, value) => syncClient.resolveConflict(id, value);
