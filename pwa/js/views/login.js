/** Masuk: username and password; errors in plain words. */

import { login } from '../api.js';
import { startSession } from '../db.js';
import { startAutoSync, syncNow } from '../sync-client.js';
import { refreshReference } from '../refdata.js';
import { refreshSession } from '../app.js';
import { t, serverText } from '../i18n.js';
import { h, field, setTitle, go, notice, actions } from '../ui.js';
import { languageSwitch } from './menu.js';

function deviceName() {
  const ua = navigator.userAgent;
  const model = ua.match(/Android [\d.]+; ([^;)]+)/)?.[1];
  return (model ? `${model} · Chrome` : ua.includes('Android') ? 'Android · Chrome' : 'Browser').slice(0, 120);
}

export function render(main, { session, path }) {
  setTitle(t('login.title'));
  // Logging in again after the token expired: the same user, whose data stays on the phone.
  const again = path === '/masuk-lagi' && session;
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: false, required: true, value: again ? session.user.username : '', readOnly: !!again });
  const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary', text: t('login.submit') });
  const form = h('form', {
    class: 'form',
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      msg.replaceChildren();
      if (!user.value.trim() || !pass.value) {
        msg.append(notice(t('login.missing')));
        return;
      }
      submit.disabled = true;
      submit.textContent = t('login.busy');
      try {
        const { token, user: who } = await login(user.value.trim(), pass.value, deviceName());
        await startSession({ token, user: who });
        await refreshSession();
        // Reference lists for offline forms; the screens wait for none of this.
        refreshReference(token);
        startAutoSync();
        syncNow().catch(() => {});
        go('/');
      } catch (err) {
        let text;
        if (err.status === 0) text = t('login.offline');
        else if (err.status === 401) text = t('login.wrong');
        else if (err.status === 429) {
          const n = err.extra?.retry_after_minutes ?? (err.message_en || '').match(/(\d+) minute/)?.[1];
          text = n ? t('login.locked', { n }) : serverText(err);
        } else if (err.status === 403 || err.status === 409) text = serverText(err);
        else text = `${serverText(err) || t('login.failed')} ${t('login.try_again')}`;
        msg.append(notice(text));
        pass.value = '';
        pass.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = t('login.submit');
      }
    },
  },
  h('p', { class: 'lead', text: t(again ? 'login.again_intro' : 'login.intro') }),
  msg,
  field(t('login.username'), user),
  field(t('login.password'), pass),
  actions(submit));
  main.append(form, languageSwitch());
}
