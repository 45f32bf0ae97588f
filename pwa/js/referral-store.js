/** The referrals on this phone with their people, events and status as known here. */

import { listRecords } from './db.js';
import { todayWIB } from './i18n.js';
import { localState, isOverdue, CLOSED } from './referral-rules.js';

/** [{r, person, events, status}] for every referral this phone holds. */
export async function referralRows(role) {
  const [referrals, persons, events] = await Promise.all([
    listRecords('referrals'), listRecords('persons'), listRecords('referral_events'),
  ]);
  const people = new Map(persons.map((p) => [p.id, p]));
  const byReferral = new Map();
  for (const e of events) {
    if (!byReferral.has(e.referral_id)) byReferral.set(e.referral_id, []);
    byReferral.get(e.referral_id).push(e);
  }
  return referrals.map((r) => {
    const evs = byReferral.get(r.id) || [];
    const { status } = localState(r, evs, role);
    return { r, person: people.get(r.person_id), events: evs, status };
  });
}

/** The desk's day: new referrals, overdue ones, appointments today, open ones. */
export async function deskCounts(role) {
  const rows = await referralRows(role);
  const today = todayWIB();
  const apptDay = (r) => r.derived?.appointment_at
    && todayWIB(new Date(r.derived.appointment_at));
  return {
    fresh: rows.filter((row) => row.status === 'terkirim').length,
    overdue: rows.filter((row) => isOverdue(row.r, row.status, today)).length,
    today: rows.filter((row) => row.status === 'dijadwalkan' && apptDay(row.r) === today).length,
    open: rows.filter((row) => row.status && !CLOSED.has(row.status)).length,
  };
}
