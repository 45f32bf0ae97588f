/** The page's side of the service worker: registration, the update offer, persistent storage. */

const HOUR_MS = 60 * 60 * 1000;

/** Register /sw.js; onUpdate(apply) when a new version waits. apply() activates it and reloads
 *  once. */
export function registerServiceWorker({ onUpdate } = {}) {
  if (!('serviceWorker' in navigator)) return Promise.resolve(null);
  const container = navigator.serviceWorker;
  let offered = null;
  const offer = (reg) => {
    const waiting = reg.waiting;
    // The first install controls nothing yet: that is no update to offer.
    if (!waiting || waiting === offered || !container.controller || !onUpdate) return;
    offered = waiting;
    onUpdate(() => {
      let reloading = false;
      container.addEventListener('controllerchange', () => {
        if (reloading) return;
        reloading = true;
        location.reload();
      });
      waiting.postMessage({ type: 'skip-waiting' });
    });
  };
  return container
    .register('/sw.js', { scope: '/' })
    .then((reg) => {
      offer(reg);
      reg.addEventListener('updatefound', () => {
        const worker = reg.installing;
        if (worker)
          worker.addEventListener('statechange', () => worker.state === 'installed' && offer(reg));
      });
      // An app left open for days still hears of a new version.
      setInterval(() => reg.update().catch(() => {}), HOUR_MS);
      return reg;
    })
    .catch((error) => {
      console.warn('service worker not registered', error);
      return null;
    });
}

/** Look for a new version of the app now (the server answered 426 client_outdated); a new
 *  worker found is offered through registerServiceWorker's onUpdate. */
export async function checkForUpdate() {
  if (!('serviceWorker' in navigator)) return null;
  const reg = await navigator.serviceWorker.getRegistration();
  return reg ? reg.update().catch(() => null) : null;
}

/** Ask the browser not to evict IndexedDB under storage pressure; true when granted. */
export async function requestPersistentStorage() {
  if (!navigator.storage || !navigator.storage.persist) return false;
  return (await navigator.storage.persisted()) || navigator.storage.persist();
}
