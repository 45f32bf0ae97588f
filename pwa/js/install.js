/** Installing the app on the home screen: Chrome's `beforeinstallprompt`, kept from the page's
 *  first moment (it fires once, early, before any screen is drawn), and whether the hint was
 *  dismissed or the app installed on this phone (remembered in localStorage). */

const KEY = 'jangkau.install_hint';
const CHANGED = 'jangkau:installable';
let deferred = null;

const changed = () => window.dispatchEvent(new CustomEvent(CHANGED));

window.addEventListener('beforeinstallprompt', (e) => {
  // Our hint asks at a calm moment, on the home screen, instead of Chrome's own mini-bar.
  e.preventDefault();
  deferred = e;
  changed();
});
window.addEventListener('appinstalled', () => {
  deferred = null;
  localStorage.setItem(KEY, 'installed');
  changed();
});

/** The event fired when what the hint should show changed. */
export const INSTALL_CHANGED = CHANGED;

/** Whether to show the hint: not installed, not dismissed. */
export function hintWanted() {
  const standalone = matchMedia('(display-mode: standalone)').matches
    || navigator.standalone === true;
  return !standalone && !localStorage.getItem(KEY);
}

/** Whether the browser offers its own install dialog. */
export const canPrompt = () => deferred !== null;

/** Open the browser's install dialog (once per event); true when the user installed. */
export async function promptInstall() {
  const e = deferred;
  deferred = null;
  if (!e) return false;
  await e.prompt();
  const { outcome } = await e.userChoice;
  if (outcome === 'accepted') localStorage.setItem(KEY, 'installed');
  changed();
  return outcome === 'accepted';
}

/** "Tutup": the hint is not shown again on this phone. */
export function dismissHint() {
  localStorage.setItem(KEY, 'dismissed');
  changed();
}
