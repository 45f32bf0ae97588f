/** The shell: boot, the router on location.hash, the sync bar, the update banner. Screens
 *  (views/) load on first visit to their route and get what they need of the shell in their
 *  context argument: {params, session, path, refreshSession}. */

import { getSession, hasPin } from './db.js';
import { startAutoSync, stopAutoSync, getStatus } from './sync-client.js';
import { checkForUpdate, registerServiceWorker, requestPersistentStorage } from './sw-bridge.js';
import { loadLang, t, serverText, formatTime, todayWIB } from './i18n.js';
import { h, go, isDirty, setDirty } from './ui.js';
import { flushDrafts } from './components/draft.js';
// Listens for the browser's install offer from the first moment (the home screen shows it).
import './install.js';

// [pattern, view module, export]; the module loads on first visit to the route.
const ROUTES = [
  [/^\/masuk$/, 'login', 'render'],
  [/^\/masuk-lagi$/, 'login', 'render'],
  [/^\/$/, 'home', 'render'],
  [/^\/kunjungan$/, 'visits', 'list'],
  [/^\/kunjungan\/(baru|[\w-]{36})$/, 'visits', 'form'],
  [/^\/warga$/, 'persons', 'list'],
  [/^\/warga\/baru$/, 'register', 'register'],
  [/^\/warga\/([\w-]{36})$/, 'persons', 'detail'],
  [/^\/warga\/([\w-]{36})\/ubah$/, 'register', 'edit'],
  [/^\/warga\/([\w-]{36})\/data$/, 'person-data', 'render'],
  [/^\/rujuk\/([\w-]{36})$/, 'refer', 'render'],
  [/^\/rujukan$/, 'referrals', 'list'],
  [/^\/rujukan\/([\w-]{36})$/, 'referrals', 'detail'],
  [/^\/meja$/, 'inbox', 'list'],
  [/^\/meja\/([\w-]{36})$/, 'desk-referral', 'render'],
  [/^\/bertabrakan$/, 'conflicts', 'render'],
  [/^\/sinkronisasi$/, 'sync', 'render'],
  [/^\/menu$/, 'menu', 'render'],
  [/^\/pemberitahuan$/, 'notifications', 'render'],
  [/^\/laporan$/, 'reports', 'render'],
  [/^\/admin$/, 'admin', 'render'],
];

// The LTSA desk and partners work referrals on their own screens, also under #/rujukan (the
// address a notification opens), so the same link suits every role.
const DESK_ROLES = new Set(['ltsa', 'partner']);
const DESK_SCREENS = {
  'referrals.list': ['inbox', 'list'],
  'referrals.detail': ['desk-referral', 'render'],
};

const main = document.getElementById('main');
let session = null;
let cleanup = null;
let routing = 0;

/** The logged-in session, re-read after login or logout. */
async function refreshSession() {
  session = await getSession();
  if (session) keepRoleScreens(session.user.role);
  return session;
}

// Screens only some roles open are not fetched when the app is installed (server/pwa.py
// ROLE_ONLY), so the login screen loads light. Once a user of such a role is logged in and the
// worker controls the page, they are fetched through it, which keeps them for offline use.
const VILLAGE_SCREENS = ['/js/views/visits.js', '/js/views/register.js', '/js/views/refer.js'];
const DESK_SCREEN_FILES = ['/js/views/inbox.js', '/js/views/desk-referral.js'];
const ROLE_SCREENS = {
  officer: VILLAGE_SCREENS, community: VILLAGE_SCREENS, admin: VILLAGE_SCREENS,
  ltsa: DESK_SCREEN_FILES, partner: DESK_SCREEN_FILES,
};

function controlled() {
  const container = navigator.serviceWorker;
  if (container.controller) return Promise.resolve();
  return new Promise((resolve) => container.addEventListener('controllerchange', resolve,
    { once: true }));
}

/** Keep the role's screens for offline use; the page is marked data-offline="ready" once all
 *  the user needs without signal is on the phone. */
async function keepRoleScreens(role) {
  if (!('serviceWorker' in navigator)) return;
  await controlled();
  const kept = await Promise.all((ROLE_SCREENS[role] || []).map(
    (url) => fetch(url).then((r) => r.ok, () => false)));
  if (kept.every(Boolean)) document.documentElement.dataset.offline = 'ready';
}

async function route() {
  const run = ++routing;
  const path = location.hash.replace(/^#/, '') || '/';
  if (!session && path !== '/masuk') return go('/masuk');
  if (session && path === '/masuk') return go('/');
  const match = ROUTES.map(([re, mod, fn]) => [path.match(re), mod, fn]).find(([m]) => m);
  if (!match) return go('/');
  const [m, screen, part] = match;
  const desk = DESK_ROLES.has(session?.user.role) && DESK_SCREENS[`${screen}.${part}`];
  const [mod, fn] = desk || [screen, part];
  flushDrafts();
  if (cleanup) cleanup();
  cleanup = null;
  setDirty(false);
  let view = null;
  try {
    view = await import(`./views/${mod}.js`);
  } catch (error) {
    console.error(error);
  }
  if (run !== routing) return;
  // Each screen draws into its own box: a slow screen left behind draws into a detached one.
  const root = document.createElement('div');
  main.replaceChildren(root);
  document.getElementById('home-link').hidden = !session || path === '/';
  document.getElementById('menu-link').hidden = !session;
  document.getElementById('syncbar').hidden = !session;
  document.getElementById('home-link').setAttribute('aria-label', t('nav.home'));
  document.getElementById('menu-link').setAttribute('aria-label', t('nav.menu'));
  let off = null;
  try {
    if (!view) throw new Error(`screen ${mod} not loaded`);
    off = await view[fn](root, { params: m.slice(1), session, path, refreshSession });
  } catch (error) {
    // A broken screen says so in words; the rest of the app (and the data) stays usable.
    console.error(error);
    root.append(h('p', { class: 'notice err', role: 'alert', text: t('ui.screen_failed') }));
  }
  if (run !== routing) {
    off?.();
    return;
  }
  cleanup = off || null;
  window.scrollTo(0, 0);
  main.focus({ preventScroll: true });
}

// The sync bar: the truth about sync, always in view; a tap opens the details.
function renderStatus(s = getStatus()) {
  const bar = document.getElementById('syncbar');
  const parts = [];
  const say = (cls, text) => parts.push(h('span', { class: cls, text }));
  if (!s.online) say('st off', `⚠ ${t('sync.offline')}`);
  else if (s.syncing) say('st', `⟳ ${t('sync.syncing')}`);
  // All well: one short line, "✓ Semua sudah terkirim · 10.42" (the details screen says
  // the rest); otherwise each fact in its own words.
  const well = s.online && !s.syncing && !s.pending && !s.refused && !s.lastError
    && !s.clockWarning && !s.conflicts;
  const day = s.lastSync && todayWIB(new Date(s.lastSync)) === todayWIB() ? 'time' : 'datetime';
  const time = s.lastSync && formatTime(s.lastSync, day);
  if (well && time) say('st', `✓ ${t('sync.all_sent')} · ${time}`);
  else {
    say('st', s.pending ? `⬆ ${t('sync.pending', { n: s.pending })}` : `✓ ${t('sync.all_sent')}`);
    if (time) say('st', t('sync.last', { time }));
  }
  if (s.refused) say('st bad', `✖ ${t('sync.refused', { n: s.refused })}`);
  if (s.conflicts) say('st bad', `⚠ ${t('sync.conflicts', { n: s.conflicts })}`);
  // Offline is said once, by the first line; other errors in plain words.
  if (s.lastError && (s.online || s.lastError.reason !== 'offline')) {
    say('st bad line', `✖ ${serverText(s.lastError)}`);
  }
  if (s.clockWarning) say('st bad line', `⚠ ${serverText(s.clockWarning)}`);
  bar.replaceChildren(...parts);
  bar.classList.toggle('well', well);
  const words = parts.map((p) => p.textContent).join('. ');
  bar.setAttribute('aria-label', `${t('sync.details')}: ${words}`);
}

// A new version waits: applied only when no form holds unsaved input.
function offerUpdate(apply) {
  const box = document.getElementById('update');
  const msg = h('p', { class: 'hint', hidden: true, text: t('update.finish_form') });
  const reload = h('button', {
    type: 'button', class: 'primary', text: t('update.reload'),
    onclick: () => {
      if (isDirty()) {
        msg.hidden = false;
        return;
      }
      apply();
    },
  });
  box.replaceChildren(h('strong', { text: `★ ${t('update.available')}` }), reload, msg);
  box.hidden = false;
  window.addEventListener('jangkau:dirty', (e) => { if (!e.detail) msg.hidden = true; });
}

// An admin revoked this phone (or deactivated the account), said by any answer of the
// server: erase everything now, the outbox too, and show the login screen with the reason.
let wiping = false;
function onRevoked() {
  if (wiping) return;
  wiping = true;
  stopAutoSync();
  import('./wipe.js').then((m) => m.wipeDevice('revoked')).catch((error) => {
    // Tried again at the next answer that says so.
    wiping = false;
    console.error('wipe failed', error);
  });
}

// A phone with a PIN opens locked (sealing data an unclean exit left open) and shows only the
// PIN screen until the PIN opens it; no sync meanwhile. pin.js loads only then.
async function unlockFirst() {
  try {
    const pin = await import('./pin.js');
    await pin.guard(main);
    pin.watchHidden();
  } catch (error) {
    console.error(error);
    main.replaceChildren(h('p', { class: 'notice err', role: 'alert', text: t('pin.failed') }));
    await new Promise(() => {});
  }
}

async function boot() {
  window.addEventListener('jangkau:revoked', onRevoked);
  await loadLang();
  if (await hasPin()) await unlockFirst();
  session = await getSession();
  // Open conflicts are the user's to settle: a tap opens their review, unless edits were
  // refused (the sync details list those first).
  document.getElementById('syncbar').addEventListener('click', () => {
    const s = getStatus();
    go(s.conflicts && !s.refused ? '/bertabrakan' : '/sinkronisasi');
  });
  window.addEventListener('jangkau:status', (e) => renderStatus(e.detail));
  // The server speaks a newer sync protocol (426): the new version of the app is fetched
  // now, and offered as any update is (offerUpdate); the sync bar says why nothing syncs.
  window.addEventListener('jangkau:outdated', () => checkForUpdate());
  // Another language: the bar and the screen in its words.
  window.addEventListener('jangkau:lang', () => {
    renderStatus();
    route();
  });
  // Drafts are written as the user types; a hidden page writes any that still wait.
  document.addEventListener('visibilitychange', () => document.hidden && flushDrafts());
  window.addEventListener('pagehide', flushDrafts);
  window.addEventListener('hashchange', route);
  renderStatus();
  await route();
  registerServiceWorker({ onUpdate: offerUpdate });
  requestPersistentStorage();
  if (session) {
    keepRoleScreens(session.user.role);
    startAutoSync();
  }
}

boot();
