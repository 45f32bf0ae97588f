/** The PIN lock on screen: the PIN screen of a locked phone, the menu's settings, and the lock
 *  after some minutes out of sight. Loaded only on a phone with a PIN, or when one is set. */

import { lock, unlock, setPin, removePin, pinConfig, validPin, MAX_TRIES,
  LOCK_AFTER_MINUTES } from './store/lock.js';
import { wipeDevice } from './wipe.js';
import { stopAutoSync } from './sync-client.js';
import { t } from './i18n.js';
import { h, field, setTitle, notice, actions, button, toast } from './ui.js';
import { confirmAction } from './components/confirm.js';

const pinInput = (name, autocomplete = 'off') => h('input', {
  type: 'password', name, inputmode: 'numeric', pattern: '[0-9]*', maxlength: 6,
  autocomplete, required: true,
});

function hideShell() {
  for (const id of ['home-link', 'menu-link', 'syncbar']) {
    document.getElementById(id).hidden = true;
  }
}

/** Seal the data now and start the app again, on the PIN screen (nothing stays in memory). */
export async function lockNow() {
  stopAutoSync();
  await lock();
  location.reload();
}

/** Lock when the app starts (also sealing data an unclean exit left open: no PIN needed),
 *  show only the PIN screen, resolve once the PIN opened the data. */
export async function guard(main) {
  await lock();
  hideShell();
  return new Promise((resolve) => pinScreen(main, resolve));
}

async function tryPin(value, msg) {
  const result = await unlock(value);
  if (result.ok) return true;
  if (result.left <= 0) {
    await wipeDevice('pin');
    return false;
  }
  msg.replaceChildren(notice(t('pin.wrong', { n: result.left })));
  return false;
}

function pinScreen(main, opened) {
  setTitle(t('pin.title'));
  const pin = pinInput('pin');
  const msg = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary', text: t('pin.unlock') });
  const onsubmit = async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    submit.disabled = true;
    submit.textContent = t('pin.busy');
    try {
      if (await tryPin(pin.value, msg)) {
        main.replaceChildren();
        opened();
        return;
      }
    } finally {
      submit.disabled = false;
      submit.textContent = t('pin.unlock');
    }
    pin.value = '';
    pin.focus();
  };
  const forgot = confirmAction({ action: t('pin.forgot'), explain: t('pin.forgot_explain'),
    yes: t('pin.forgot_yes'), run: () => wipeDevice('forgot'), id: 'pin-forgot' });
  main.replaceChildren(h('form', { class: 'form', novalidate: true, onsubmit, id: 'pin-form' },
    h('p', { class: 'lead', text: t('pin.locked') }), msg, field(t('pin.label'), pin),
    h('p', { class: 'hint', text: t('pin.warning', { n: MAX_TRIES }) }), actions(submit)),
  forgot);
  pin.focus();
}

let watching = false;
/** Lock after LOCK_AFTER_MINUTES out of sight: checked when the app is seen again, and by a
 *  timer while hidden (which a phone may hold back; the check on return still holds). */
export function watchHidden() {
  if (watching) return;
  watching = true;
  const limit = LOCK_AFTER_MINUTES * 60 * 1000;
  let hiddenAt = null;
  let timer = null;
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      hiddenAt = Date.now();
      timer = setTimeout(() => lockNow(), limit);
      return;
    }
    clearTimeout(timer);
    if (hiddenAt !== null && Date.now() - hiddenAt >= limit) lockNow();
    hiddenAt = null;
  });
}

function setupForm(box) {
  const first = pinInput('new-pin', 'new-password');
  const again = pinInput('repeat-pin', 'new-password');
  const fNew = field(t('pin.new'), first);
  const fAgain = field(t('pin.repeat'), again);
  const onsubmit = async (e) => {
    e.preventDefault();
    fNew.setError(validPin(first.value) ? '' : t('pin.invalid'));
    fAgain.setError(validPin(first.value) && first.value !== again.value
      ? t('pin.mismatch') : '');
    if (!validPin(first.value) || first.value !== again.value) return;
    await setPin(first.value);
    watchHidden();
    toast(t('pin.set_done'));
    await pinSettings(box);
  };
  return h('form', { class: 'form', novalidate: true, onsubmit, id: 'pin-setup' }, fNew, fAgain,
    actions(h('button', { type: 'submit', class: 'primary', text: t('pin.setup') })));
}

/** The menu's PIN section: set a PIN, or lock now and remove it. */
export async function pinSettings(box) {
  const set = Boolean(await pinConfig());
  const remove = async () => {
    await removePin();
    toast(t('pin.removed'));
    await pinSettings(box);
  };
  box.replaceChildren(h('section', { class: 'card', id: 'pin-lock' },
    h('h2', { text: t('pin.menu_title') }),
    h('p', { class: 'hint', text: t('pin.menu_explain', { n: LOCK_AFTER_MINUTES }) }),
    set ? h('p', { text: t('pin.is_set') }) : setupForm(box),
    set && button(t('pin.lock_now'), lockNow, 'primary wide', { id: 'pin-lock-now' }),
    set && button(t('pin.remove'), remove, 'secondary wide', { id: 'pin-remove' })));
}
