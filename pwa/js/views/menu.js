/** Menu: who is logged in, language, sync details, keluar (with a warning while edits are
 *  unsent). */

import { request } from '../api.js';
import { pendingCount, clearAll, hasPin } from '../db.js';
import { t, label } from '../i18n.js';
import { h, setTitle, go, button, notice } from '../ui.js';
import { languageSwitch } from '../components/language-switch.js';

/** Log out: refuse while edits are unsent unless confirmed; then clear this phone's data. */
async function logout(session, box, confirmed) {
  const unsent = await pendingCount();
  if (unsent > 0 && !confirmed) {
    box.replaceChildren(
      notice(t('logout.unsent', { n: unsent })),
      h('p', { text: t('logout.unsent_advice') }),
      button(t('logout.sync_first'), () => go('/sinkronisasi'), 'primary'),
      button(t('logout.confirm', { n: unsent }), () => logout(session, box, true), 'danger'),
    );
    return;
  }
  try {
    if (navigator.onLine) await request('POST', '/api/auth/logout', null, session.token);
  } catch { /* the token dies with the data on this phone anyway */ }
  await clearAll();
  // A fresh page: nothing of this user stays in memory either.
  location.replace('/#/masuk');
  location.reload();
}

// The PIN lock of a shared phone: its settings (pin.js) load when asked for, or at once
// on a phone that has a PIN.
function pinSection() {
  const box = h('div');
  const open = () => import('../pin.js').then((m) => m.pinSettings(box))
    .catch(() => box.replaceChildren(notice(t('pin.failed'))));
  hasPin().then((set) => (set ? open() : box.replaceChildren(
    button(t('pin.menu_title'), open, 'secondary wide', { id: 'pin-open' }))));
  return box;
}

export function render(main, { session }) {
  setTitle(t('menu.title'));
  const user = session.user;
  const box = h('div', { class: 'logout', 'aria-live': 'polite' });
  // The online-only screens' links: loaded on demand, not with the app at install.
  const ops = h('div');
  import('../ops.js').then((m) => ops.replaceChildren(m.opsLinks(session))).catch(() => {});
  main.append(
    h('section', { class: 'card' },
      h('p', { class: 'big', text: user.full_name }),
      h('p', { text: [label('role', user.role), user.desa_name].filter(Boolean).join(' · ') }),
      h('p', { class: 'hint', text: t('menu.username', { name: user.username }) })),
    languageSwitch(),
    h('nav', { class: 'biglinks' },
      h('a', { href: '#/sinkronisasi', class: 'btn', text: t('sync.details') }),
      ['ltsa', 'partner'].includes(user.role)
        && h('a', { href: '#/meja', class: 'btn', text: t('desk.title') }),
      h('a', { href: '#/warga', class: 'btn', text: t('nav.persons') }),
      // The desk reads visit counts in the reports, not visits (server/domain/disclosure.py).
      !['ltsa', 'partner'].includes(user.role)
        && h('a', { href: '#/kunjungan', class: 'btn', text: t('nav.visits') })),
    ops,
    pinSection(),
    h('section', { class: 'card' },
      h('h2', { text: t('logout.title') }),
      h('p', { class: 'hint', text: t('logout.explain') }),
      box,
      button(t('logout.button'), () => logout(session, box, false), 'secondary wide',
        { id: 'logout' })),
  );
}
