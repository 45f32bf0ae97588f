/** Masuk: username and password; errors in plain words. */

import { login } from '../api.js';
import { startSession, wipedBecause } from '../db.js';
import { startAutoSync, syncNow } from '../sync-client.js';
import { refreshReference } from '../refdata.js';
import { t, serverText } from '../i18n.js';
import { h, field, setTitle, go, notice, actions } from '../ui.js';
import { languageSwitch } from '../components/language-switch.js';

function deviceName() {
  const ua = navigator.userAgent;
  const model = ua.match(/Android [\d.]+; ([^;)]+)/)?.[1];
  if (model) return `${model} · Chrome`.slice(0, 120);
  return ua.includes('Android') ? 'Android · Chrome' : 'Browser';
}

/** Why logging in failed, in plain words. */
function failure(err) {
  if (err.status === 0) return t('login.offline');
  if (err.status === 401) return t('login.wrong');
  if (err.status === 429) {
    const n = err.extra?.retry_after_minutes
      ?? (err.message_en || '').match(/(\d+) minute/)?.[1];
    return n ? t('login.locked', { n }) : serverText(err);
  }
  if (err.status === 403 || err.status === 409) return serverText(err);
  return `${serverText(err) || t('login.failed')} ${t('login.try_again')}`;
}

async function logIn(username, password, refreshSession) {
  const { token, user } = await login(username, password, deviceName());
  await startSession({ token, user });
  await refreshSession();
  // Reference lists for offline forms; the screens wait for none of this.
  refreshReference(token);
  // Started already when logging in again: the sync is asked for anyway.
  startAutoSync();
  syncNow().catch(() => {});
  go('/');
}

export function render(main, { session, path, refreshSession }) {
  setTitle(t('login.title'));
  // Logging in again after the token expired: the same user, whose data stays on the phone.
  const again = path === '/masuk-lagi' && session;
  const user = h('input', {
    type: 'text', name: 'username', autocomplete: 'username', autocapitalize: 'none',
    spellcheck: false, required: true, value: again ? session.user.username : '',
    readOnly: !!again,
  });
  const pass = h('input', {
    type: 'password', name: 'password', autocomplete: 'current-password', required: true,
  });
  const msg = h('div', { 'aria-live': 'assertive' });
  // The data of this phone was just erased: say why (wipe.js).
  const wiped = wipedBecause();
  if (wiped) msg.append(notice(t(`login.wiped_${wiped}`), 'warn'));
  const submit = h('button', { type: 'submit', class: 'primary', text: t('login.submit') });
  const onsubmit = async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    if (!user.value.trim() || !pass.value) {
      msg.append(notice(t('login.missing')));
      return;
    }
    submit.disabled = true;
    submit.textContent = t('login.busy');
    try {
      await logIn(user.value.trim(), pass.value, refreshSession);
    } catch (err) {
      msg.append(notice(failure(err)));
      pass.value = '';
      pass.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = t('login.submit');
    }
  };
  const intro = h('p', { class: 'lead', text: t(again ? 'login.again_intro' : 'login.intro') });
  const form = h('form', { class: 'form', novalidate: true, onsubmit }, intro, msg,
    field(t('login.username'), user), field(t('login.password'), pass), actions(submit));
  main.append(form, languageSwitch());
}
