/** Small values the app keeps between runs (cursor, last sync, reference lists): the meta store. */

import { tx, done } from './idb.js';

/** A value kept in the meta store. */
export async function getMeta(key) {
  return tx(['meta'], 'readonly', (s) => done(s.meta.get(key)));
}

/** Keep a value in the meta store. */
export async function setMeta(key, value) {
  return tx(['meta'], 'readwrite', (s) => done(s.meta.put(value, key)));
}
