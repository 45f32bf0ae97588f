/** The session of the logged-in user on this phone: token, user, client id, HLC node. */

import { ApiError } from '../api.js';
import { STORES, tx, done, clearStores, outboxChanged } from './idb.js';

const NODE_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

const randomNode = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `hp-${Array.from(bytes, (b) => NODE_CHARS[b % 36]).join('')}`;
};

/** {token, user, clientId, node} of the logged-in user, or null. */
export async function getSession() {
  return (await tx(['meta'], 'readonly', (s) => done(s.meta.get('session')))) || null;
}

/** The session inside a transaction, only if it is still clientId's: an answer for another
 *  session (the user logged out meanwhile) must not write a thing. */
export async function sameSession(s, clientId) {
  const session = await done(s.meta.get('session'));
  return session && session.clientId === clientId ? session : null;
}

function unsentError(old) {
  const who = (old && old.user && (old.user.full_name || old.user.username)) || '?';
  return new ApiError(409,
    `HP ini masih menyimpan data ${who} yang belum terkirim. `
      + `${who} harus masuk dan menyinkronkan dulu.`,
    `This phone still holds unsent data of ${who}. ${who} must log in and sync first.`,
    null, 'unsent_data');
}

/** Store the session; a new user gets a fresh clientId, HLC node and cursor 0
 *  (the same user keeps them). */
export async function startSession({ token, user }) {
  return tx(STORES, 'readwrite', async (s) => {
    const old = await done(s.meta.get('session'));
    if (old && old.user && user && old.user.id === user.id) {
      // Logging in again (an expired token): the outbox stays tied to the same client id,
      // so a batch the server applied but never answered is still recognised as sent.
      const session = { ...old, token, user };
      await done(s.meta.put(session, 'session'));
      return session;
    }
    if (await done(s.outbox.count())) throw unsentError(old);
    await clearStores(s);
    const session = { token, user, clientId: crypto.randomUUID(), node: randomNode() };
    await done(s.meta.put(session, 'session'));
    await done(s.meta.put(0, 'cursor'));
    await done(s.meta.put(1, 'next_mutation_id'));
    return session;
  });
}

/** True when this phone has a PIN lock (store/lock.js, loaded only then). */
export async function hasPin() {
  return Boolean(await tx(['lock'], 'readonly', (s) => done(s.lock.get('config'))));
}

/** Where wipe.js leaves why this phone's data was just erased, for the login screen. */
export const WIPED_KEY = 'jangkau.wiped';

/** Why the data of this phone was just erased ('revoked', 'pin', 'forgot'), once; else null. */
export function wipedBecause() {
  const why = sessionStorage.getItem(WIPED_KEY);
  sessionStorage.removeItem(WIPED_KEY);
  return why;
}

/** Logout: delete every record, outbox entry, refused edit, conflict, draft, meta and the
 *  session. */
export async function clearAll() {
  await tx(STORES, 'readwrite', clearStores);
  outboxChanged();
}
