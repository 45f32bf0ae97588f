/** A referral's page for the LTSA desk and partners: the person (contact only where the
 *  consent allows the reader), consent, migration plan, history, destination, appointment,
 *  and the actions the server would apply. Each action is one referral event saved on this
 *  phone (saveEdit), so it works offline and goes out with the next sync. */

import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, label, formatTime, todayWIB, countryName } from '../i18n.js';
import { ageOn } from '../validate.js';
import { h, setTitle, field, button, toast, newId, notice, onData, go } from '../ui.js';
import { regionIndex, desaName, reference } from '../refdata.js';
import { facts } from '../components/detail.js';
import {
  localState, allowedActions, contactAllowed, forwardConsentMissing, byClock, eventClock,
} from '../referral-rules.js';
import {
  statusText, overdueTag, whenText, appointmentText, whereItWent, factWithId,
} from '../components/referral.js';
import { urgencyTag, childBadge } from '../components/marks.js';
import { markSeen } from '../referral-seen.js';
import { deskRights } from '../components/rights.js';
import { syncNow } from '../sync-client.js';

const kv = (key, value, id) => factWithId(t(key), value, id);

/** Everything the page shows, from this phone's copy. */
async function load(id, role) {
  const r = await getRecord('referrals', id);
  if (!r) return null;
  const [person, events, consents, plans, index, orgs] = await Promise.all([
    getRecord('persons', r.person_id),
    listRecords('referral_events', (e) => e.referral_id === id),
    listRecords('consents', (c) => c.person_id === r.person_id),
    listRecords('migration_plans', (p) => p.person_id === r.person_id),
    regionIndex(), reference('organisations'),
  ]);
  events.sort(byClock);
  const state = localState(r, events, role);
  return { r, person, events, consents, plans, index, orgs, state };
}

function summaryCard(d) {
  const { r, person, state, index } = d;
  return h('section', { class: 'card' },
    h('p', { class: 'big' }, person?.name || t('referral.unknown_person'), ' ',
      childBadge(person?.birth_date, r.derived?.is_child)),
    h('p', { class: 'status big', id: 'ref-status',
      text: `${t('field.status')}: ${statusText(state.status)}` }),
    overdueTag(r, state.status), urgencyTag(r.urgency),
    facts(
      kv('desk.desa', desaName(index, r.derived?.desa_code || person?.desa_code)),
      kv('refer.services', r.services.map((s) => label('service', s)).join(', ')),
      r.case_category && kv('field.case_category', label('case_category', r.case_category)),
      kv('field.reason', r.reason),
      kv('desk.received_on', whenText(r._clocks?.person_id))));
}

function personCard(d, role) {
  const { person, consents, index } = d;
  if (!person) return h('section', { class: 'card' }, notice(t('desk.person_missing'), 'warn'));
  // Fields the server did not send to this role (server/domain/disclosure.py).
  const withheld = person.derived?.withheld?.length > 0;
  const open = !withheld && contactAllowed(role, person, consents);
  return h('section', { class: 'card', id: 'desk-person' },
    h('h2', { text: t('desk.person') }),
    facts(
      kv('field.sex', label('sex', person.sex)),
      person.birth_date && kv('desk.age', t('person.age', { n: ageOn(person.birth_date) })),
      kv('field.desa', desaName(index, person.desa_code)),
      kv('field.lawful_basis', label('lawful_basis', person.lawful_basis)),
      open && kv('desk.phone', person.phone, 'desk-phone'),
      open && kv('field.address', person.address, 'desk-address')),
    !open && h('p', { class: 'hint', id: 'contact-hidden',
      text: withheld ? t('desk.contact_withheld') : t(`desk.contact_hidden_${role}`) }));
}

function consentCard(consents) {
  const items = consents.map((c) => h('li', { class: c.withdrawn_at ? 'withdrawn' : '' },
    h('strong', { text: (c.purposes || []).map((p) => label('consent_purpose', p)).join(', ') }),
    h('span', { text: ` · ${label('consent_method', c.method)}`
      + ` · ${formatTime(c.given_at, 'date')}` }),
    c.withdrawn_at && h('span', { class: 'tag bad',
      text: ` ${t('desk.withdrawn', { date: formatTime(c.withdrawn_at, 'date') })}` })));
  return h('section', { class: 'card', id: 'desk-consent' },
    h('h2', { text: t('desk.consent') }),
    items.length ? h('ul', null, items) : h('p', { class: 'hint', text: t('desk.no_consent') }));
}

function planCard(plans) {
  const p = plans[0];
  return h('section', { class: 'card', id: 'desk-plan' },
    h('h2', { text: t('desk.plan') }),
    !p ? h('p', { class: 'hint', text: t('desk.no_plan') }) : facts(
      kv('field.destination_country', countryName(p.destination_country)),
      p.sector && kv('field.sector', label('sector', p.sector)),
      kv('field.scheme', label('scheme', p.scheme)),
      kv('field.agency_name', p.agency_name),
      p.informal_recruiter && kv('desk.informal_recruiter', t('ui.yes')),
      (p.documents || []).length && kv('field.documents',
        p.documents.map((x) => label('document', x)).join(', '))));
}


function eventText(e, orgs) {
  if (e.kind !== 'status') return e.note;
  const parts = [`${t('field.status')}: ${label('referral_status', e.status)}`];
  if (e.organisation_id) {
    parts.push(orgs.find((o) => o.id === e.organisation_id)?.name || `#${e.organisation_id}`);
  }
  if (e.appointment_at) parts.push(appointmentText(e.appointment_at, e.place));
  if (e.outcome) parts.push(`${t('referral.outcome')}: ${e.outcome}`);
  if (e.note) parts.push(e.note);
  return parts.join(' · ');
}

function historyCard(d) {
  const items = d.events.map((e) => h('li', { class: e.derived?.flagged ? 'flagged' : '' },
    h('span', { class: 'when', text: whenText(eventClock(e)) }),
    e.derived?.author_role
      && h('span', { class: 'who', text: label('role', e.derived.author_role) }),
    e.kind === 'note'
      && h('span', { class: 'tag', text: t(`desk.audience_${e.audience || 'desk'}`) }),
    h('p', { text: eventText(e, d.orgs) }),
    e.derived?.flagged && h('p', { class: 'tag bad', text: `⚠ ${t('referral.not_applied')}` }),
    e.pending && h('span', { class: 'tag wait', text: `⬆ ${t('sync.waiting')}` })));
  return h('section', { class: 'card', id: 'desk-history' },
    h('h2', { text: t('referral.history') }),
    items.length ? h('ol', { class: 'history' }, items)
      : h('p', { class: 'hint', text: t('referral.no_history') }));
}

/** Save one event of this referral on this phone; it goes out with the next sync. */
async function saveEvent(d, fields) {
  const base = { referral_id: d.r.id, note: '', organisation_id: null };
  const status = fields.kind === 'status'
    ? { seen_status: d.state.status } : { status: null, seen_status: null };
  await saveEdit('referral_events', newId(), { ...base, ...status, ...fields }, { op: 'insert' });
  toast(t('desk.saved'));
}

// Buttons inside a card (the screen's bottom bar is for a form's one main action).
const inline = (...buttons) => h('div', { class: 'inline-actions' }, buttons);

const input = (labelKey, props) => {
  const el = h(props.rows ? 'textarea' : 'input', props);
  return [field(t(labelKey), el), el];
};

/** The schedule form: date, time (WIB) and place. */
function scheduleForm(d, done) {
  const [dateField, date] = input('desk.appt_date',
    { type: 'date', min: todayWIB(), id: 'appt-date' });
  const [timeField, time] = input('desk.appt_time',
    { type: 'time', value: '09:00', id: 'appt-time' });
  const [placeField, place] = input('desk.appt_place',
    { type: 'text', maxLength: 200, id: 'appt-place' });
  const save = button(t('desk.do.schedule'), async () => {
    dateField.setError(date.value ? '' : t('desk.need_date'));
    timeField.setError(time.value ? '' : t('desk.need_time'));
    if (!date.value || !time.value) return;
    await saveEvent(d, { kind: 'status', status: 'dijadwalkan', place: place.value.trim(),
      appointment_at: `${date.value}T${time.value}:00+07:00` });
    done();
  }, 'primary', { id: 'confirm-action' });
  return [dateField, timeField, placeField, inline(save)];
}

/** The warning before a forward without the person's consent for partner referral. */
function consentWarning(d, done) {
  const ask = button(t('desk.ask_consent'), async () => {
    await saveEvent(d, { kind: 'note', note: t('desk.ask_consent_note'), audience: 'village' });
    done();
  }, 'secondary', { id: 'ask-consent' });
  return [h('div', { class: 'notice warn', id: 'consent-warning', role: 'alert' },
    h('strong', { text: `⚠ ${t('desk.consent_missing')}` }),
    h('p', { text: t('desk.consent_how') })), inline(ask)];
}

function forwardForm(d, done) {
  if (forwardConsentMissing(d.person, d.consents)) return consentWarning(d, done);
  const partners = d.orgs.filter((o) => o.kind !== 'ltsa' && o.is_active !== false);
  let chosen = null;
  const pick = h('select', { id: 'forward-org', onchange: (e) => { chosen = e.target.value; } },
    h('option', { value: '', text: t('ui.choose') }),
    partners.map((o) => h('option', { value: String(o.id), text: o.name })));
  const orgField = field(t('desk.forward_to'), pick);
  const [noteField, note] = input('desk.note_optional', { rows: 3, maxLength: 5000 });
  const save = button(t('desk.do.forward'), async () => {
    orgField.setError(chosen ? '' : t('desk.need_org'));
    if (!chosen) return;
    await saveEvent(d, { kind: 'status', status: 'dirujuk_lanjut',
      organisation_id: Number(chosen), note: note.value.trim() });
    done();
  }, 'primary', { id: 'confirm-action' });
  return [partners.length ? orgField : notice(t('desk.no_partners'), 'warn'),
    noteField, inline(save)];
}

function closeForm(d, done) {
  const [outcomeField, outcome] = input('desk.outcome',
    { rows: 4, maxLength: 5000, id: 'outcome' });
  const save = button(t('desk.do.close'), async () => {
    const text = outcome.value.trim();
    outcomeField.setError(text ? '' : t('desk.need_outcome'));
    if (!text) return;
    await saveEvent(d, { kind: 'status', status: 'selesai', outcome: text });
    done();
  }, 'primary', { id: 'confirm-action' });
  return [outcomeField, inline(save)];
}

const STATUS_OF = {
  receive: 'diterima', serve: 'dilayani', no_show: 'tidak_hadir', hand_back: 'dikembalikan',
};

/** Receive, serve, no-show, hand back: a confirmation with an optional note. */
function simpleForm(action, d, done) {
  const [noteField, note] = input('desk.note_optional', { rows: 3, maxLength: 5000 });
  const save = button(t(`desk.do.${action}`), async () => {
    await saveEvent(d, { kind: 'status', status: STATUS_OF[action], note: note.value.trim() });
    done();
  }, 'primary', { id: 'confirm-action' });
  return [noteField, inline(save)];
}

const FORMS = { schedule: scheduleForm, forward: forwardForm, close: closeForm };

/** One button per action the server would apply; a tap opens that action's form. */
function actionsCard(d, role, redraw) {
  const box = h('div', { class: 'action-form' });
  const allowed = allowedActions(role, d.state);
  const open = (action) => {
    const form = (FORMS[action] || ((dd, done) => simpleForm(action, dd, done)))(d, redraw);
    box.replaceChildren(h('h3', { text: t(`desk.do.${action}`) }), ...form);
    box.querySelector('input, select, textarea, button')?.focus();
  };
  // Said before the forward is tried: it needs a consent the person has not given.
  const noConsent = allowed.includes('forward') && forwardConsentMissing(d.person, d.consents);
  const text = (a) => {
    if (a === 'schedule' && d.state.status === 'tidak_hadir') return t('desk.do.reschedule');
    return `${a === 'forward' && noConsent ? '⚠ ' : ''}${t(`desk.do.${a}`)}`;
  };
  return h('section', { class: 'card', id: 'desk-actions' },
    h('h2', { text: t('desk.actions') }),
    allowed.length ? h('div', { class: 'biglinks' }, allowed.map((a) => button(text(a),
      () => open(a), 'secondary', { 'data-action': a })))
      : h('p', { class: 'hint', text: t('desk.no_actions') }),
    noConsent && h('p', { class: 'hint', id: 'forward-needs-consent',
      text: `⚠ ${t('desk.consent_missing')}` }),
    box);
}

/** A note for the desk (default) or for the referring village. */
function noteCard(d, redraw) {
  let audience = 'desk';
  const [noteField, note] = input('referral.add_note', { rows: 3, maxLength: 5000, id: 'note' });
  const choice = h('fieldset', { class: 'tgs' }, h('legend', { text: t('desk.audience') }),
    ['desk', 'village'].map((a) => h('label', { class: 'tg' },
      h('input', { type: 'radio', name: 'audience', value: a, checked: a === 'desk',
        onchange: () => { audience = a; } }),
      h('span', { text: t(`desk.audience_${a}`) }))));
  const save = button(t('referral.add_note_button'), async () => {
    const text = note.value.trim();
    noteField.setError(text ? '' : t('v.note_required'));
    if (!text) return;
    await saveEvent(d, { kind: 'note', note: text, audience });
    redraw();
  }, 'secondary', { id: 'save-note' });
  return h('section', { class: 'card', id: 'desk-note' }, noteField, choice, inline(save));
}

export async function render(main, { params: [id], session }) {
  setTitle(t('referral.title'));
  const role = session.user.role;
  const box = h('div');
  main.append(box);
  // After a withdrawal or an erasure the person and this referral leave the phone.
  const leave = async () => {
    go('/meja');
    await syncNow().catch(() => null);
  };
  const draw = async () => {
    const d = await load(id, role);
    if (!d) {
      box.replaceChildren(notice(t('ui.not_found')));
      return;
    }
    await markSeen(d.r, d.events);
    box.replaceChildren(summaryCard(d), actionsCard(d, role, draw), whereItWent(d.r, d.events),
      personCard(d, role), consentCard(d.consents), planCard(d.plans), historyCard(d),
      noteCard(d, draw), deskRights(d.person, session, leave));
  };
  await draw();
  // A sync in the background must not wipe an action or a note being written: the page is
  // redrawn after the user saves (or leaves and comes back).
  const busy = () => box.querySelector('.action-form')?.childElementCount > 0
    || Boolean(box.querySelector('#note')?.value.trim());
  return onData(() => (busy() ? null : draw()));
}
