/** Who may set which referral status, from which status: sync/referral_status.py, mirrored.
 *  tests/browser/test_desk_screens.py compares these tables with the Python ones for every
 *  role and status, so the app offers only what the server applies. */

export const STATUSES = [
  'terkirim', 'diterima', 'dijadwalkan', 'dilayani', 'dirujuk_lanjut', 'selesai',
  'tidak_hadir', 'dikembalikan', 'dibatalkan',
];

export const CLOSED = new Set(['selesai', 'tidak_hadir', 'dibatalkan']);

// Keys are the status reached so far ('' is "no status yet").
export const TRANSITIONS = {
  '': ['terkirim'],
  terkirim: ['diterima', 'dijadwalkan', 'dilayani', 'dirujuk_lanjut', 'dibatalkan'],
  diterima: ['dijadwalkan', 'dilayani', 'dirujuk_lanjut', 'dikembalikan', 'dibatalkan'],
  dijadwalkan: ['dijadwalkan', 'dilayani', 'dirujuk_lanjut', 'tidak_hadir', 'dikembalikan',
    'dibatalkan'],
  dilayani: ['dilayani', 'dijadwalkan', 'dirujuk_lanjut', 'selesai', 'dikembalikan'],
  dirujuk_lanjut: ['dirujuk_lanjut', 'diterima', 'dijadwalkan', 'dilayani', 'selesai',
    'tidak_hadir', 'dikembalikan', 'dibatalkan'],
  tidak_hadir: ['dijadwalkan', 'dikembalikan'],
  dikembalikan: ['diterima', 'dijadwalkan', 'dilayani', 'dirujuk_lanjut', 'selesai',
    'dibatalkan'],
  selesai: [],
  dibatalkan: [],
};

export const ROLE_STATUSES = {
  officer: ['terkirim', 'dibatalkan'],
  community: ['terkirim', 'dibatalkan'],
  ltsa: STATUSES.filter((s) => s !== 'dibatalkan' && s !== 'dikembalikan'),
  partner: ['diterima', 'dijadwalkan', 'dilayani', 'selesai', 'tidak_hadir', 'dikembalikan'],
  admin: [...STATUSES],
};

export const WITHDRAWING_ROLES = new Set(['officer', 'community']);

/** null if role may move a referral from old (null: none) to next, else the reason code. */
export function transitionProblem(old, next, role, { served = false, forwarded = false } = {}) {
  if (!STATUSES.includes(next)) return 'unknown_status';
  if (!(TRANSITIONS[old || ''] || []).includes(next)) return 'transition_not_allowed';
  if (!(ROLE_STATUSES[role] || []).includes(next)) return 'role_not_allowed';
  if (WITHDRAWING_ROLES.has(role) && next === 'dibatalkan' && served) return 'already_served';
  if (role === 'partner' && !(forwarded || old === 'dirujuk_lanjut')) return 'not_forwarded';
  return null;
}

/** An event's sort key on this phone: the server's clock once pulled, else its own. */
export const eventClock = (e) => e.derived?.hlc || e._clocks?.kind
  || Object.values(e._clocks || {})[0] || '';

export const byClock = (a, b) => {
  const [x, y] = [eventClock(a) + a.id, eventClock(b) + b.id];
  return x < y ? -1 : x > y ? 1 : 0;
};

/** The status as this phone knows it: the server's fold, then this phone's unsent events on
 *  top (each checked as the server will, so an offline action shows its effect at once). */
export function localState(referral, events, role) {
  let status = referral.derived?.status || null;
  const applied = events.filter((e) => e.kind === 'status' && e.derived && !e.derived.flagged);
  let served = applied.some((e) => e.status === 'dilayani');
  // With a partner when the last applied forward or hand-back was a forward.
  const last = applied.filter((e) => ['dirujuk_lanjut', 'dikembalikan'].includes(e.status))
    .sort(byClock).pop();
  let forwarded = last?.status === 'dirujuk_lanjut';
  for (const e of events.filter((x) => x.kind === 'status' && !x.derived).sort(byClock)) {
    if (transitionProblem(status, e.status, role, { served, forwarded })) continue;
    status = e.status;
    served = served || status === 'dilayani';
    if (status === 'dirujuk_lanjut' || status === 'dikembalikan') {
      forwarded = status === 'dirujuk_lanjut';
    }
  }
  return { status, served, forwarded };
}

// The desk's actions, each one status event (docs/sync-protocol.md §17).
export const ACTIONS = [
  ['receive', 'diterima'],
  ['schedule', 'dijadwalkan'],
  ['serve', 'dilayani'],
  ['forward', 'dirujuk_lanjut'],
  ['hand_back', 'dikembalikan'],
  ['no_show', 'tidak_hadir'],
  ['close', 'selesai'],
];

/** The actions the server would apply for role on a referral in state (localState). */
export function allowedActions(role, state) {
  return ACTIONS.filter(([, status]) => !transitionProblem(state.status, status, role, state))
    .map(([action]) => action);
}

const activeConsents = (consents) => consents.filter((c) => !c.withdrawn_at);
const hasPurpose = (consents, purpose) => activeConsents(consents)
  .some((c) => (c.purposes || []).includes(purpose));

/** The server's rule for a forward: a person on the consent basis needs `rujukan_mitra`. */
export function forwardConsentMissing(person, consents) {
  return person?.lawful_basis === 'persetujuan' && !hasPurpose(consents, 'rujukan_mitra');
}

/** May this reader see the person's phone and address? The purpose that brought the
 *  referral to the reader must be one the person agreed to: the LTSA reads them under its
 *  public task, or with `rujukan_ltsa` where the basis is consent; a partner (an NGO, which
 *  relies on consent) only with `rujukan_mitra`; the village and admins always. */
export function contactAllowed(role, person, consents) {
  if (!person) return false;
  if (role === 'ltsa') {
    return person.lawful_basis !== 'persetujuan' || hasPurpose(consents, 'rujukan_ltsa');
  }
  if (role === 'partner') return hasPurpose(consents, 'rujukan_mitra');
  return true;
}

/** Overdue between pulls: still sent, no desk action, and today (WIB) after `due_on`. */
export function isOverdue(referral, status, today) {
  const d = referral.derived || {};
  if (status !== 'terkirim' || d.first_action_at) return false;
  return Boolean(d.overdue || (d.due_on && today > d.due_on));
}
