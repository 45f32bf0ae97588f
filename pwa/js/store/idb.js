/** Raw IndexedDB: the "jangkau" database, its stepwise upgrades, and one-transaction helpers. */

export const DB_NAME = 'jangkau';
export const DB_VERSION = 3;
/** The stores of the user's data: what a PIN lock seals (store/lock.js). */
export const DATA_STORES = ['records', 'outbox', 'refused', 'conflicts', 'drafts', 'meta'];
/** Every object store; logging out clears them all (the PIN lock's too). */
export const STORES = [...DATA_STORES, 'lock'];

let dbPromise = null;

/** The schema steps: a phone may skip versions, so every step from its version on runs. */
export function upgrade(db, oldVersion, transaction) {
  if (oldVersion < 1) {
    // A row per record: the server's copy, the local view (server + pending edits).
    db.createObjectStore('records', { keyPath: ['entity', 'id'] })
      .createIndex('updated', ['entity', 'updated']);
    db.createObjectStore('outbox', { keyPath: 'mutation_id' })
      .createIndex('record', ['entity', 'id']);
    db.createObjectStore('refused', { keyPath: 'mutation_id' });
    db.createObjectStore('conflicts', { keyPath: 'id' });
    db.createObjectStore('drafts');
    db.createObjectStore('meta');
  }
  if (oldVersion < 2) {
    // Set-aside edits are shown with their record, so they are looked up by it.
    transaction.objectStore('refused').createIndex('record', ['entity', 'id']);
  }
  if (oldVersion < 3) {
    // The PIN lock: its wrapped key, and the data stores sealed while locked.
    db.createObjectStore('lock');
  }
}

/** The open database (opened and upgraded on first use). */
export function openDb() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = (event) => upgrade(req.result, event.oldVersion, req.transaction);
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

/** Close and delete the whole database (a revoked phone, a forgotten PIN); the next call of
 *  openDb() makes a new, empty one. Other tabs close theirs on 'versionchange'. */
export async function wipe() {
  const open = dbPromise;
  dbPromise = null;
  if (open) (await open.catch(() => null))?.close();
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
  });
}

/** A request's result as a promise. */
export const done = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

/** One transaction over the named stores; fn gets {storeName: objectStore}.
 *  fn may await only IndexedDB requests (done(...)): anything else would let the
 *  transaction commit half-way. A throw aborts it all. */
export async function tx(names, mode, fn) {
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

/** Empty every store (inside a transaction over STORES). */
export async function clearStores(s) {
  await Promise.all(STORES.map((n) => done(s[n].clear())));
}

/** Tell the screens and the sync client that the outbox changed. */
export function outboxChanged() {
  window.dispatchEvent(new CustomEvent('jangkau:outbox'));
}

/** Tell the screens that records of these entities changed. */
export function dataChanged(entities) {
  window.dispatchEvent(new CustomEvent('jangkau:data', { detail: { entities } }));
}
