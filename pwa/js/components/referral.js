/** Pieces of a referral's screens shared by the desk, the partners and the village: the
 *  status as known on this phone, the overdue mark, the appointment, where it went. */

import { t, label, formatTime, todayWIB } from '../i18n.js';
import { h, hlcMs } from '../ui.js';
import { eventClock, isOverdue } from '../referral-rules.js';
import { fact, facts } from './detail.js';

/** The status in words: "Draf" while only on this phone, else the status as known here. */
export function statusText(status) {
  return status ? label('referral_status', status) : t('referral.draft');
}

/** "Lewat jadwal" on a referral the desk has not acted on in time (null otherwise). */
export function overdueTag(referral, status) {
  if (!isOverdue(referral, status, todayWIB())) return null;
  return h('span', { class: 'tag bad overdue', text: `⚠ ${t('desk.overdue')}` });
}

/** When an event (or the referral's first write) happened, for people. */
export const whenText = (clock) => formatTime(hlcMs(clock), 'datetime');

/** A labelled value with an id (for a value other screens and tests point at). */
export function factWithId(name, value, id) {
  const row = fact(name, value);
  if (row && id) row.id = id;
  return row;
}

/** The appointment "3 Des 2026 09.30 WIB · Kantor LTSA", or ''. */
export function appointmentText(at, place) {
  if (!at) return '';
  return [formatTime(at, 'datetime'), place].filter(Boolean).join(' · ');
}

/** The latest appointment as this phone knows it: a local schedule first, else the server's. */
export function latestAppointment(referral, events) {
  const local = events.filter((e) => e.kind === 'status' && e.status === 'dijadwalkan'
    && !e.derived?.flagged).sort((a, b) => (eventClock(a) < eventClock(b) ? -1 : 1)).pop();
  if (local && !local.derived) return { at: local.appointment_at, place: local.place };
  return { at: referral.derived?.appointment_at, place: referral.derived?.appointment_place };
}

/** Where the referral went, the appointment and the outcome. */
export function whereItWent(referral, events) {
  const d = referral.derived || {};
  const appt = latestAppointment(referral, events);
  return h('section', { class: 'card', id: 'where-it-went' },
    h('h2', { text: t('referral.where_title') }),
    facts(
      factWithId(t('referral.organisation'), d.assigned_organisation_name, 'ref-org'),
      factWithId(t('referral.appointment'), appointmentText(appt.at, appt.place), 'ref-appt'),
      factWithId(t('referral.outcome'), referral.outcome, 'ref-outcome')),
    !d.assigned_organisation_name && h('p', { class: 'hint', text: t('referral.not_yet_sent') }));
}
