/* Jangkau service worker: the app from the cache, the API always from the network. */

// The server fills these in (server/pwa.py): every app file with its content hash, and a
// version made of them all, so any change of a file installs a new worker.
self.__PRECACHE = [];
self.__VERSION = 'dev';

const CACHE_PREFIX = 'jangkau-';
const CACHE = `${CACHE_PREFIX}${self.__VERSION}`;
const URLS = new Set(self.__PRECACHE.map((entry) => entry.url));
const LAZY = new Set(self.__PRECACHE.filter((entry) => entry.lazy).map((entry) => entry.url));
const SYNC_TAG = 'jangkau-sync';

async function sha256(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The copy the page has just loaded is taken from the HTTP cache when it is the right one
// (no second download); one that does not match its hash is fetched again from the server.
async function fetchChecked({ url, revision }) {
  for (const cache of ['default', 'reload']) {
    const response = await fetch(url, { cache });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    if ((await sha256(await response.clone().arrayBuffer())).startsWith(revision)) return response;
  }
  // Changed on the server during the install: fail it; the next visit brings a new worker.
  throw new Error(`${url} changed while installing`);
}

// The lazy files an older version's cache holds: this phone uses them (its role's screens,
// the PIN lock), so the new version keeps them too. The new worker may first run when the app
// opens without signal, and they must open then.
async function usedBefore() {
  const used = new Set();
  for (const name of await caches.keys()) {
    if (!name.startsWith(CACHE_PREFIX) || name === CACHE) continue;
    for (const request of await (await caches.open(name)).keys()) {
      used.add(new URL(request.url).pathname);
    }
  }
  return used;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const used = await usedBefore();
    const wanted = self.__PRECACHE.filter((entry) => !entry.lazy || used.has(entry.url));
    await Promise.all(wanted.map(async (entry) => cache.put(entry.url, await fetchChecked(entry))));
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    // Only this version's cache is expected; every other one is an old version.
    for (const name of await caches.keys()) {
      if (name.startsWith(CACHE_PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function fromCache(key, request) {
  const cache = await caches.open(CACHE);
  // ignoreVary: the stored responses vary on Accept-Encoding, which requests here lack.
  const cached = await cache.match(key, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  // A lazy file (another language) is kept once fetched: the next use works offline.
  if (response.ok && LAZY.has(key)) await cache.put(key, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  // Only reads are cached; writes go to the API.
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  // Don't care about other-origin URLs
  if (url.origin !== self.location.origin) return;
  // The API is never answered from a cache: a stale answer would lie about the data.
  if (url.pathname.startsWith('/api/') || url.pathname === '/healthz') return;
  // Every page of the app is the one index.html: a reload without signal still works.
  if (request.mode === 'navigate') {
    event.respondWith(fromCache('/', request));
    return;
  }
  if (URLS.has(url.pathname)) event.respondWith(fromCache(url.pathname, request));
});

self.addEventListener('message', (event) => {
  // The page decides when: never in the middle of an unsaved form.
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('sync', (event) => {
  if (event.tag !== SYNC_TAG) return;
  // The outbox lives with the page's code: ask every open window to sync.
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of windows) client.postMessage({ type: 'sync' });
  })());
});

// Web push. A message says what happened, how many and in which desa, with the referral to
// open; never a person's data (the app shows that after opening, to whoever may read it).
const REFERRAL_ID = /^[\w-]{36}$/;

/** The app's page a notification opens: the referral's, or the home screen. Only a path of
 * this app is followed, whatever a message says. */
function notificationTarget(data) {
  const id = data && data.referral_id;
  const path = typeof id === 'string' && REFERRAL_ID.test(id) ? `/#/rujukan/${id}` : '/';
  return new URL(path, self.location.origin).href;
}

/** The text in the phone's language: Bahasa Indonesia first, English on an English phone
 * (the worker cannot read the language chosen in the app). */
function notificationText(data) {
  const english = /^en\b/i.test(self.navigator.language || '') && data.en;
  const text = english ? data.en : data;
  return { title: text.title || 'Jangkau', body: text.body || '', lang: english ? 'en' : 'id' };
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const { title, body, lang } = notificationText(data);
  event.waitUntil(self.registration.showNotification(title, {
    body,
    lang,
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    // A newer message about the same referral replaces the older one.
    tag: data.referral_id ? `rujukan-${data.referral_id}` : undefined,
    renotify: Boolean(data.referral_id),
    data: { url: notificationTarget(data), referral_id: data.referral_id || null },
  }));
});

/** Show the target in an open window of the app (focused if the phone allows it), or open
 * one. */
async function openNotification(data) {
  const target = (data && data.url) || notificationTarget(data);
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin !== self.location.origin) continue;
    try {
      await client.focus();
    } catch {
      // Focus is allowed only during the click itself; navigating still shows the referral.
    }
    try {
      return await client.navigate(target);
    } catch {
      // A window this worker does not control cannot be navigated: open a new one.
    }
  }
  return self.clients.openWindow(target);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const opened = openNotification(event.notification.data);
  event.waitUntil(opened);
});
