/** Rujukan saya: the list (status, urgency, person) and one referral with its history and
 *  notes. */

import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, label, formatTime } from '../i18n.js';
import {
  h, setTitle, field, textInput, actions, button, toast, newId, notice, onData, hlcMs,
} from '../ui.js';
import { draft } from '../components/draft.js';
import { pagedList, itemLink } from '../components/list.js';
import { card, fact, facts } from '../components/detail.js';
import {
  sentMark, refusalNotice, referralStatus, urgencyTag, childBadge,
} from '../components/marks.js';
import { whereItWent } from '../components/referral.js';
import { markSeen } from '../referral-seen.js';

const services = (r) => r.services.map((s) => label('service', s)).join(', ');
const statusLine = (r) => `${t('field.status')}: ${referralStatus(r)}`;

export async function list(main) {
  setTitle(t('referrals.title'));
  let names = new Map();
  const referrals = pagedList({
    load: async () => {
      const [all, persons] = await Promise.all([listRecords('referrals'), listRecords('persons')]);
      names = new Map(persons.map((p) => [p.id, p]));
      return all;
    },
    empty: t('referrals.none'),
    item: (r) => {
      const p = names.get(r.person_id);
      return itemLink(`#/rujukan/${r.id}`,
        h('strong', null, p?.name || t('referral.unknown_person'), ' ',
          childBadge(p?.birth_date, r.derived?.is_child)),
        h('span', { class: 'status', text: statusLine(r) }),
        urgencyTag(r.urgency),
        h('span', { text: services(r) }),
        r.refused && sentMark(r));
    },
  });
  await referrals.reload();
  main.append(...referrals.el);
  return onData(() => referrals.reload());
}

const eventTime = (e) => e.derived?.hlc || e._clocks?.kind || Object.values(e._clocks || {})[0]
  || '';

function eventItem(e) {
  const derived = e.derived || {};
  const what = e.kind === 'status'
    ? `${t('field.status')}: ${label('referral_status', e.status)}` : e.note;
  const why = derived.flag_reason ? ` (${label('flag_reason', derived.flag_reason)})` : '';
  const waiting = e.pending && h('span', { class: 'tag wait', text: `⬆ ${t('sync.waiting')}` });
  return h('li', { class: derived.flagged ? 'flagged' : '' },
    h('span', { class: 'when', text: formatTime(hlcMs(eventTime(e)), 'datetime') }),
    derived.author_role && h('span', { class: 'who', text: label('role', derived.author_role) }),
    h('p', { text: what }),
    derived.flagged && h('p', { class: 'tag bad', text: `⚠ ${t('referral.not_applied')}${why}` }),
    e.refused ? sentMark(e) : waiting);
}

function referralCard(r, person) {
  return h('section', { class: 'card' },
    h('p', { class: 'big' }, person?.name || t('referral.unknown_person'), ' ',
      childBadge(person?.birth_date, r.derived?.is_child)),
    h('p', { class: 'status big', text: statusLine(r) }),
    refusalNotice(r),
    !r.derived && h('p', { class: 'hint', text: t('referral.draft_explain') }),
    urgencyTag(r.urgency),
    facts(
      fact(t('refer.services'), services(r)),
      r.case_category && fact(t('field.case_category'), label('case_category', r.case_category)),
      fact(t('field.reason'), r.reason),
      fact(t('referral.outcome'), r.outcome)));
}

async function drawReferral(box, id) {
  const r = await getRecord('referrals', id);
  if (!r) {
    box.replaceChildren(notice(t('ui.not_found')));
    return;
  }
  const [person, events] = await Promise.all([
    getRecord('persons', r.person_id),
    listRecords('referral_events', (e) => e.referral_id === id),
  ]);
  // History in the order every replica agrees on: (hlc, id); newest last.
  events.sort((a, b) => (eventTime(a) + a.id < eventTime(b) + b.id ? -1 : 1));
  await markSeen(r, events);
  box.replaceChildren(referralCard(r, person), r.derived && whereItWent(r, events),
    card(t('referral.history'),
      events.length ? h('ol', { class: 'history' }, events.map(eventItem))
        : h('p', { class: 'hint', text: t('referral.no_history') })));
}

export async function detail(main, { params: [id] }) {
  setTitle(t('referral.title'));
  const box = h('div');
  const store = draft(`note:${id}`, () => ({ ...state }));
  const state = (await store.load()) || { note: '' };
  const noteInput = textInput(state, 'note',
    { multiline: true, maxLength: 5000, onInput: () => store.save() });
  const noteField = field(t('referral.add_note'), noteInput);
  const draw = () => drawReferral(box, id);
  const add = button(t('referral.add_note_button'), async () => {
    const note = state.note.trim();
    noteField.setError(note ? '' : t('v.note_required'));
    if (!note) return;
    const event = {
      referral_id: id, kind: 'note', status: null, note, organisation_id: null, seen_status: null,
    };
    await saveEdit('referral_events', newId(), event, { op: 'insert' });
    state.note = '';
    noteInput.value = '';
    await store.clear();
    toast(t('referral.note_saved'));
    await draw();
  }, 'primary', { id: 'save' });
  main.append(box, noteField, actions(add));
  await draw();
  const off = onData(draw);
  return () => { off(); store.flush(); };
}
