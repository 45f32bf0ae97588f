/** The menu's way to the online-only screens (Pemberitahuan, Laporan, Admin): who is
 *  offered which, and the unread count. Loaded with the menu, so kept small. */

import { request } from './api.js';
import { t } from './i18n.js';
import { h } from './ui.js';

// The server answers 403 to the others (README "Reports"): they are not offered the screen.
export const REPORT_ROLES = new Set(['ltsa', 'admin', 'officer']);
export const ADMIN_ROLES = new Set(['admin']);

/** The unread count from the server, or null without an answer. */
export async function unreadCount(token) {
  if (!navigator.onLine) return null;
  try {
    const page = await request('GET', '/api/notifications?per_page=1', null, token);
    return page.unread;
  } catch {
    return null;
  }
}

/** The menu's links to Pemberitahuan (with the unread count), Laporan and Admin. */
export function opsLinks(session) {
  const role = session.user.role;
  const notes = h('a', { href: '#/pemberitahuan', class: 'btn', id: 'menu-notifications',
    text: t('nav.notifications') });
  unreadCount(session.token).then((n) => {
    if (n) notes.textContent = t('nav.notifications_unread', { n });
  });
  return h('nav', { class: 'biglinks' }, notes,
    REPORT_ROLES.has(role) && h('a', { href: '#/laporan', class: 'btn', id: 'menu-reports',
      text: t('nav.reports') }),
    ADMIN_ROLES.has(role) && h('a', { href: '#/admin', class: 'btn', id: 'menu-admin',
      text: t('nav.admin') }));
}
