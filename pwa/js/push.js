/** Web push on this phone: subscribed only when the user asks, and removed again on request.
 *  Every failure is a PushError whose reason names it for the screen (see notifications). */

import { request, ApiError } from './api.js';

/** Why subscribing failed: 'unsupported' (no push in this browser), 'denied' (the user or
 *  the browser said no), 'refused' (the push service refused), 'unavailable' (the server
 *  has no VAPID keys), 'offline', or 'server' (an ApiError, kept in `error`). */
export class PushError extends Error {
  constructor(reason, error = null) {
    super(reason);
    this.name = 'PushError';
    this.reason = reason;
    this.error = error;
  }
}

/** True when this browser can receive web push at all. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** The permission the browser holds for notifications: 'granted', 'denied' or 'default'. */
export function pushPermission() {
  return pushSupported() ? Notification.permission : 'denied';
}

/** The bytes of a base64url key, as pushManager.subscribe wants its applicationServerKey. */
export function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function registration() {
  // The app registers its worker at boot; a page without one has no push either.
  if (!(await navigator.serviceWorker.getRegistration())) return null;
  return navigator.serviceWorker.ready;
}

// Which login the browser's subscription was stored for: logging out removes it on the
// server but not in the browser, and the next login on this phone has none yet.
const MARK = 'jangkau.push';

async function loginMark(token) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest).slice(0, 8), (b) => b.toString(16).padStart(2, '0'))
    .join('');
}

/** True when this login's push subscription is stored on the server. */
export async function pushActive(token) {
  const sub = await currentSubscription();
  return Boolean(sub) && localStorage.getItem(MARK) === await loginMark(token);
}

/** This phone's push subscription, or null. */
export async function currentSubscription() {
  if (!pushSupported()) return null;
  const reg = await registration();
  return reg ? reg.pushManager.getSubscription() : null;
}

function asPushError(error) {
  if (!(error instanceof ApiError)) return new PushError('refused', error);
  if (error.code === 'unavailable') return new PushError('unavailable', error);
  return new PushError(error.status === 0 ? 'offline' : 'server', error);
}

/** Ask the browser for push with the server's key and store the subscription on the
 *  server for this device. Throws PushError. */
export async function subscribePush(token) {
  if (!pushSupported()) throw new PushError('unsupported');
  let key;
  try {
    ({ public_key: key } = await request('GET', '/api/push/key', null, token));
  } catch (error) {
    throw asPushError(error);
  }
  if ((await Notification.requestPermission()) !== 'granted') throw new PushError('denied');
  const reg = await registration();
  if (!reg) throw new PushError('unsupported');
  let sub;
  try {
    // A subscription made with an older key cannot be renewed in place.
    await (await reg.pushManager.getSubscription())?.unsubscribe();
    sub = await reg.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: keyBytes(key),
    });
  } catch (error) {
    throw new PushError(Notification.permission === 'denied' ? 'denied' : 'refused', error);
  }
  try {
    await request('POST', '/api/push/subscription', sub.toJSON(), token);
    localStorage.setItem(MARK, await loginMark(token));
  } catch (error) {
    await sub.unsubscribe().catch(() => {});
    throw asPushError(error);
  }
  return sub;
}

/** Stop push on this phone: the server forgets the subscription, the browser drops it. */
export async function unsubscribePush(token) {
  try {
    await request('DELETE', '/api/push/subscription', null, token);
  } catch (error) {
    throw asPushError(error);
  }
  localStorage.removeItem(MARK);
  await (await currentSubscription())?.unsubscribe();
}
