/** The PIN lock of a shared phone: the data stores sealed under a key only the PIN opens.
 *
 *  Keys: an ECDH P-256 key pair made when the PIN is set. Its public key is kept in clear,
 *  so the app locks without the PIN; its private key is kept wrapped (AES-GCM) by a key
 *  derived from the PIN (PBKDF2-SHA-256, random salt), so only the PIN unlocks. Locking
 *  encrypts one snapshot of the data stores under an AES-GCM key from ECDH(a new ephemeral
 *  key, the public key), keeps it in the 'lock' store and empties the data stores; unlocking
 *  unwraps the private key with the PIN, decrypts and puts everything back.
 *
 *  WebCrypto's promises are not IndexedDB requests: awaiting one inside a transaction lets
 *  it commit half-way (idb.js tx). So every step reads or writes in a transaction of its
 *  own, and the crypto runs between them; the write of the seal checks in its transaction
 *  that the data is still what was encrypted. Limits: docs/pin-lock.md. */

import { DATA_STORES, tx, done } from './idb.js';

/** Wrong PINs in a row after which the local data is erased. */
export const MAX_TRIES = 5;
/** Minutes out of sight after which the app locks itself. */
export const LOCK_AFTER_MINUTES = 5;
const ITERATIONS = 310000;
const CURVE = { name: 'ECDH', namedCurve: 'P-256' };
const AES = { name: 'AES-GCM', length: 256 };
const PIN_RE = /^\d{4,6}$/;

const subtle = () => crypto.subtle;
const random = (n) => crypto.getRandomValues(new Uint8Array(n));

/** True for a PIN of 4 to 6 digits. */
export const validPin = (pin) => PIN_RE.test(pin);

async function pinKey(pin, salt, iterations) {
  const base = await subtle().importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false,
    ['deriveKey']);
  return subtle().deriveKey({ name: 'PBKDF2', salt, iterations, hash: 'SHA-256' }, base, AES,
    false, ['wrapKey', 'unwrapKey']);
}

const getLock = (key) => tx(['lock'], 'readonly', (s) => done(s.lock.get(key)));
const putLock = (key, value) => tx(['lock'], 'readwrite', (s) => done(s.lock.put(value, key)));

/** The lock's settings ({salt, iterations, iv, wrapped, publicKey, failures}) or null. */
export async function pinConfig() {
  return (await getLock('config')) || null;
}

/** True while the data is sealed. */
export async function isLocked() {
  return Boolean(await getLock('sealed'));
}

/** Set (or replace) the PIN of this phone; the data must be open. */
export async function setPin(pin) {
  if (!validPin(pin)) throw new RangeError('PIN of 4-6 digits');
  const pair = await subtle().generateKey(CURVE, true, ['deriveKey']);
  const salt = random(16);
  const iv = random(12);
  const wrapping = await pinKey(pin, salt, ITERATIONS);
  const wrapped = await subtle().wrapKey('pkcs8', pair.privateKey, wrapping,
    { name: 'AES-GCM', iv });
  const publicKey = await subtle().exportKey('raw', pair.publicKey);
  await putLock('config', { salt, iterations: ITERATIONS, iv, wrapped, publicKey, failures: 0 });
}

/** Remove the PIN (the data must be open): nothing is sealed any more. */
export async function removePin() {
  await tx(['lock'], 'readwrite', (s) => done(s.lock.clear()));
}

// Every data store as [[key, value], …]: the keys too, for stores without a key path.
async function readStores(s) {
  const out = {};
  for (const name of DATA_STORES) {
    const [keys, values] = await Promise.all(
      [done(s[name].getAllKeys()), done(s[name].getAll())]);
    out[name] = keys.map((key, i) => [key, values[i]]);
  }
  return JSON.stringify(out);
}

const aesKey = (privateKey, publicKey, usage) => subtle().deriveKey(
  { name: 'ECDH', public: publicKey }, privateKey, AES, false, [usage]);

/** Seal the data stores (no PIN needed). Returns false when there is no PIN or the data is
 *  sealed already; tries again when the data changed while it was being encrypted. */
export async function lock() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const config = await pinConfig();
    if (!config || (await isLocked())) return false;
    const plain = await tx(DATA_STORES, 'readonly', readStores);
    const owner = await subtle().importKey('raw', config.publicKey, CURVE, false, []);
    const ephemeral = await subtle().generateKey(CURVE, true, ['deriveKey']);
    const key = await aesKey(ephemeral.privateKey, owner, 'encrypt');
    const iv = random(12);
    const data = await subtle().encrypt({ name: 'AES-GCM', iv }, key,
      new TextEncoder().encode(plain));
    const sealed = { iv, data, ephemeral: await subtle().exportKey('raw', ephemeral.publicKey) };
    const written = await tx([...DATA_STORES, 'lock'], 'readwrite', async (s) => {
      // What was encrypted must be all there is: an edit saved meanwhile is encrypted too.
      if ((await readStores(s)) !== plain) return false;
      await done(s.lock.put(sealed, 'sealed'));
      await Promise.all(DATA_STORES.map((n) => done(s[n].clear())));
      return true;
    });
    if (written) return true;
  }
  throw new Error('the data kept changing while it was being locked');
}

// The private key, or null for a wrong PIN.
async function privateKey(config, pin) {
  try {
    const wrapping = await pinKey(pin, config.salt, config.iterations);
    return await subtle().unwrapKey('pkcs8', config.wrapped, wrapping,
      { name: 'AES-GCM', iv: config.iv }, CURVE, false, ['deriveKey']);
  } catch {
    return null;
  }
}

/** Open the data with the PIN: {ok: true}, or {ok: false, left} for a wrong PIN (left: tries
 *  before the data is erased; 0: the caller erases it). */
export async function unlock(pin) {
  const [config, sealed] = await Promise.all([pinConfig(), getLock('sealed')]);
  if (!config) return { ok: true };
  const owner = await privateKey(config, pin);
  if (!owner) {
    const failures = await tx(['lock'], 'readwrite', async (s) => {
      const now = await done(s.lock.get('config'));
      now.failures = (now.failures || 0) + 1;
      await done(s.lock.put(now, 'config'));
      return now.failures;
    });
    return { ok: false, left: Math.max(0, MAX_TRIES - failures) };
  }
  const stores = sealed ? await openSeal(owner, sealed) : null;
  await tx([...DATA_STORES, 'lock'], 'readwrite', async (s) => {
    if (stores) {
      for (const name of DATA_STORES) {
        await done(s[name].clear());
        const store = s[name];
        const keyed = Boolean(store.keyPath);
        await Promise.all(stores[name].map(([key, value]) => done(
          keyed ? store.put(value) : store.put(value, key))));
      }
    }
    await done(s.lock.delete('sealed'));
    await done(s.lock.put({ ...config, failures: 0 }, 'config'));
  });
  return { ok: true };
}

async function openSeal(owner, sealed) {
  const ephemeral = await subtle().importKey('raw', sealed.ephemeral, CURVE, false, []);
  const key = await aesKey(owner, ephemeral, 'decrypt');
  const plain = await subtle().decrypt({ name: 'AES-GCM', iv: sealed.iv }, key, sealed.data);
  return JSON.parse(new TextDecoder().decode(plain));
}
