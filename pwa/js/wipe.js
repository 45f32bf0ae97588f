/** Erase Jangkau from this phone (a device an admin revoked, a forgotten or mistyped PIN):
 *  the database, the push subscription, caches other than the app's own files. The app
 *  still opens, on the login screen, which says why. */

import { wipe } from './store/idb.js';
import { WIPED_KEY } from './store/session.js';

/** Erase the local data, then load the login screen afresh (nothing stays in memory either);
 *  `why` ('revoked', 'pin', 'forgot') picks the words the login screen shows. */
export async function wipeDevice(why) {
  await wipe();
  try {
    const reg = 'serviceWorker' in navigator && await navigator.serviceWorker.getRegistration();
    await (await reg?.pushManager?.getSubscription())?.unsubscribe();
  } catch { /* no push on this phone */ }
  // push.js's mark of the login its subscription was stored for.
  localStorage.removeItem('jangkau.push');
  // The app's own files stay ('jangkau-<version>', the worker's), so it opens offline;
  // any other cache of this origin could hold an answer, so it goes.
  for (const name of (await globalThis.caches?.keys().catch(() => [])) || []) {
    if (!name.startsWith('jangkau-')) await caches.delete(name);
  }
  sessionStorage.setItem(WIPED_KEY, why);
  location.replace('/#/masuk');
  location.reload();
}
