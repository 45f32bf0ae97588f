/** The consent notice's promises, each with its button on the person's page: "Tarik
 *  persetujuan" (final, as the server treats it) and "Minta hapus data", which a phone records
 *  as it can (every active consent withdrawn, the person archived; the server keeps both
 *  with their dates) and tells the user to pass on to the LTSA. The LTSA desk and admins
 *  serve the rights online (deskRights): all the data, the withdrawal of every consent (the
 *  person's data is no longer processed and leaves every phone) and the erasure. */

import { request } from '../api.js';
import { saveEdit } from '../db.js';
import { t, formatDate, todayWIB, serverText } from '../i18n.js';
import { h, toast, notice } from '../ui.js';
import { confirmAction } from './confirm.js';

const now = () => new Date().toISOString();

/** Whether the user may change this person (and so withdraw or archive): a community member
 *  only those their group registered (a record not yet synced is their own). */
export function mayChangePerson(person, user) {
  if (!['officer', 'community', 'admin'].includes(user.role)) return false;
  if (user.role !== 'community') return true;
  return person.community_group_id == null
    || person.community_group_id === user.community_group_id;
}

/** "Tarik persetujuan" for an active consent. */
export function withdrawConsent(consent) {
  if (consent.withdrawn_at) return null;
  return confirmAction({
    action: t('rights.withdraw'), explain: t('rights.withdraw_explain'),
    yes: t('rights.withdraw_yes'),
    run: async () => {
      await saveEdit('consents', consent.id, { withdrawn_at: now() });
      toast(t('rights.withdrawn_done'));
    },
  });
}

/** "Minta hapus data" for a person not archived; consents: the person's. */
export function requestErasure(person, consents) {
  if (person.archived_at) return null;
  return h('section', { class: 'card', id: 'erase' }, confirmAction({
    action: t('rights.erase'), explain: t('rights.erase_explain'), yes: t('rights.erase_yes'),
    run: async () => {
      // Consents first: an archived person's consent may still be withdrawn, but the order
      // of the outbox is the order the server applies.
      for (const c of consents.filter((x) => !x.withdrawn_at)) {
        await saveEdit('consents', c.id, { withdrawn_at: now() });
      }
      await saveEdit('persons', person.id, { archived_at: now() });
      toast(t('rights.erase_done'));
    },
  }));
}

/** What an archived person's page says (a merge says it in its own words). */
export function archivedNotice(person) {
  if (!person.archived_at || person.derived?.merged_into_id) return null;
  return h('p', { class: 'notice warn',
    text: t('rights.archived', { date: formatDate(todayWIB(new Date(person.archived_at))) }) });
}

const DESK = new Set(['ltsa', 'admin']);

// One online action of deskRights: its confirm step, the request, then `after` (the screen
// syncs and leaves, since the person leaves this phone too).
function rightsAction(person, session, after, [path, key]) {
  const box = h('div', { 'aria-live': 'polite' });
  const run = async () => {
    try {
      await request('POST', `/api/persons/${person.id}/${path}`, null, session.token);
    } catch (error) {
      box.replaceChildren(notice(serverText(error) || t('ops.failed')));
      return;
    }
    toast(t(`rights.${key}_done`));
    await after();
  };
  return h('div', null, confirmAction({
    action: t(`rights.${key}`), explain: t(`rights.${key}_explain`), yes: t(`rights.${key}_yes`),
    run, id: `rights-${path}`,
  }), box);
}

/** The LTSA desk's and admins' actions for the person's rights, online: "Lihat semua data",
 *  "Tarik persetujuan" (every consent) and "Hapus data warga", each asked twice. `after`
 *  runs once an action succeeded. */
export function deskRights(person, session, after) {
  if (!person || !DESK.has(session.user.role)) return null;
  return h('section', { class: 'card', id: 'desk-rights' },
    h('h2', { text: t('rights.desk_title') }),
    h('p', null, h('a', { href: `#/warga/${person.id}/data`, class: 'btn secondary wide',
      id: 'rights-data', text: t('rights.see_all') })),
    rightsAction(person, session, after, ['withdraw', 'desk_withdraw']),
    rightsAction(person, session, after, ['erase', 'desk_erase']));
}
