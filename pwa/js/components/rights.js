/** The consent notice's promises, each with its button on the person's page: "Tarik
 *  persetujuan" (final, as the server treats it) and "Minta hapus data". The app cannot erase
 *  a person yet, so a deletion request does what it can and says so: every active consent is
 *  withdrawn and the person archived (no longer listed, changed or referred); the server keeps
 *  both with their dates, and the user is told to pass the request on to the LTSA. */

import { saveEdit } from '../db.js';
import { t, formatDate, todayWIB } from '../i18n.js';
import { h, toast } from '../ui.js';
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
