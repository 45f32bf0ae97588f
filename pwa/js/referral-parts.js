/** Pieces of a referral's screens shared by the desk, the partners and the village. */

import { t, label, formatTime, todayWIB } from './i18n.js';
import { h, hlcMs } from './ui.js';
import { eventClock, isOverdue } from './referral-rules.js';

/** The status in words: "Draf" while only on this phone, else the status as known here. */
export function statusText(status) {
  return status ? label('referral_status', status) : t('referral.draft');
}

export function urgencyTag(code) {
  const text = `${t(`urgency_mark.${code}`)} ${label('urgency', code)}`;
  return h('span', { class: `tag urg-${code}`, text });
}

export function childBadge() {
  return h('span', { class: 'badge child', text: `★ ${t('person.child')}` });
}

export function overdueTag(referral, status) {
  return isOverdue(referral, status, todayWIB())
    && h('span', { class: 'tag bad overdue', text: `⚠ ${t('desk.overdue')}` });
}

/** When an event (or the referral's first write) happened, for people. */
export const whenText = (clock) => formatTime(hlcMs(clock), 'datetime');

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

/** Where the referral went, the appointment and the outcome: for the village's page. */
export function whereItWent(referral, events) {
  const d = referral.derived || {};
  const appt = latestAppointment(referral, events);
  const row = (key, value, id) => value && h('div', { class: 'kv', id },
    h('dt', { text: t(key) }), h('dd', { text: value }));
  return h('section', { class: 'card', id: 'where-it-went' },
    h('h2', { text: t('referral.where_title') }),
    h('dl', null,
      row('referral.organisation', d.assigned_organisation_name, 'ref-org'),
      row('referral.appointment', appointmentText(appt.at, appt.place), 'ref-appt'),
      row('referral.outcome', referral.outcome, 'ref-outcome')),
    !d.assigned_organisation_name && h('p', { class: 'hint', text: t('referral.not_yet_sent') }));
}
