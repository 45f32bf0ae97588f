/** "Changed since last seen" for the village: a mark per referral kept on this phone. */

import { getMeta, setMeta, listRecords } from './db.js';
import { eventClock, WITHDRAWING_ROLES } from './referral-rules.js';

const KEY = 'seen:referrals';

/** The clock of the latest event of the other side (the desk, a partner, an admin): what
 *  the village has not done itself. '' if there is none. */
function otherSideStamp(events) {
  let top = '';
  for (const e of events) {
    const role = e.derived?.author_role;
    if (!role || WITHDRAWING_ROLES.has(role)) continue;
    const clock = eventClock(e);
    if (clock > top) top = clock;
  }
  return top;
}

/** Remember that the user saw this referral as it is now. */
export async function markSeen(referral, events) {
  const stamp = otherSideStamp(events);
  const seen = (await getMeta(KEY)) || {};
  if (!stamp || seen[referral.id] === stamp) return;
  await setMeta(KEY, { ...seen, [referral.id]: stamp });
}

/** Referrals the other side acted on since the user last opened them, newest first. */
export async function changedReferrals() {
  const [referrals, events, seen] = await Promise.all([
    listRecords('referrals'), listRecords('referral_events'), getMeta(KEY),
  ]);
  const byReferral = new Map();
  for (const e of events) {
    if (!byReferral.has(e.referral_id)) byReferral.set(e.referral_id, []);
    byReferral.get(e.referral_id).push(e);
  }
  return referrals.map((r) => ({ r, stamp: otherSideStamp(byReferral.get(r.id) || []) }))
    .filter(({ r, stamp }) => stamp && stamp > ((seen || {})[r.id] || ''))
    .sort((a, b) => (a.stamp < b.stamp ? 1 : -1)).map(({ r }) => r);
}
