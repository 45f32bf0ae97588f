/** Rujukan saya: the list (status, urgency, person) and one referral with its history and notes. */

import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, label, formatTime } from '../i18n.js';
import { isChild } from '../validate.js';
import { h, setTitle, draft, field, textInput, actions, button, toast, newId, notice, onData, hlcMs } from '../ui.js';
import { sentMark, refusalNotice } from './visits.js';
import { whereItWent } from '../referral-parts.js';
import { markSeen } from '../referral-seen.js';

const PAGE = 30;

/** The status in words: "Draf" while only on this phone, then the status the server derived. */
export function referralStatus(r) {
  const status = r.derived?.status;
  return status ? label('referral_status', status) || r.derived.status_label : t('referral.draft');
}

function urgencyTag(code) {
  return h('span', { class: `tag urg-${code}`, text: `${t(`urgency_mark.${code}`)} ${label('urgency', code)}` });
}

export async function list(main) {
  setTitle(t('referrals.title'));
  const ul = h('ul', { class: 'items' });
  let shown = PAGE;
  const more = button(t('ui.more_items'), () => { shown += PAGE; draw(); }, 'secondary wide');
  const draw = async () => {
    const [referrals, persons] = await Promise.all([listRecords('referrals'), listRecords('persons')]);
    const names = new Map(persons.map((p) => [p.id, p]));
    ul.replaceChildren(...referrals.slice(0, shown).map((r) => {
      const p = names.get(r.person_id);
      return h('li', null, h('a', { href: `#/rujukan/${r.id}`, class: 'item' },
        h('strong', null, p?.name || t('referral.unknown_person'), ' ',
          (r.derived?.is_child || isChild(p?.birth_date)) && h('span', { class: 'badge child', text: `★ ${t('person.child')}` })),
        h('span', { class: 'status', text: `${t('field.status')}: ${referralStatus(r)}` }),
        urgencyTag(r.urgency),
        h('span', { text: r.services.map((s) => label('service', s)).join(', ') }),
        r.refused && sentMark(r)));
    }));
    if (!referrals.length) ul.append(h('li', { class: 'hint', text: t('referrals.none') }));
    more.hidden = referrals.length <= shown;
  };
  await draw();
  main.append(ul, more);
  return onData(draw);
}

const eventTime = (e) => e.derived?.hlc || e._clocks?.kind || Object.values(e._clocks || {})[0] || '';

export async function detail(main, { params: [id] }) {
  setTitle(t('referral.title'));
  const box = h('div');
  const store = draft(`note:${id}`, () => ({ ...state }));
  const state = (await store.load()) || { note: '' };
  const noteField = field(t('referral.add_note'), textInput(state, 'note', { multiline: true, maxLength: 5000, onInput: () => store.save() }));
  const add = button(t('referral.add_note_button'), async () => {
    const note = state.note.trim();
    noteField.setError(note ? '' : t('v.note_required'));
    if (!note) return;
    await saveEdit('referral_events', newId(), { referral_id: id, kind: 'note', status: null, note, organisation_id: null, seen_status: null }, { op: 'insert' });
    state.note = '';
    noteField.querySelector('textarea').value = '';
    await store.clear();
    toast(t('referral.note_saved'));
    await draw();
  }, 'primary', { id: 'save' });
  main.append(box, noteField, actions(add));

  async function draw() {
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
    box.replaceChildren(
      h('section', { class: 'card' },
        h('p', { class: 'big' }, person?.name || t('referral.unknown_person'), ' ',
          (r.derived?.is_child || isChild(person?.birth_date)) && h('span', { class: 'badge child', text: `★ ${t('person.child')}` })),
        h('p', { class: 'status big', text: `${t('field.status')}: ${referralStatus(r)}` }),
        refusalNotice(r),
        !r.derived && h('p', { class: 'hint', text: t('referral.draft_explain') }),
        urgencyTag(r.urgency),
        h('dl', null,
          h('div', { class: 'kv' }, h('dt', { text: t('refer.services') }), h('dd', { text: r.services.map((s) => label('service', s)).join(', ') })),
          r.case_category && h('div', { class: 'kv' }, h('dt', { text: t('field.case_category') }), h('dd', { text: label('case_category', r.case_category) })),
          r.reason && h('div', { class: 'kv' }, h('dt', { text: t('field.reason') }), h('dd', { text: r.reason })),
          r.outcome && h('div', { class: 'kv' }, h('dt', { text: t('referral.outcome') }), h('dd', { text: r.outcome })))),
      r.derived && whereItWent(r, events),
      h('section', { class: 'card' },
        h('h2', { text: t('referral.history') }),
        events.length ? h('ol', { class: 'history' }, events.map((e) => h('li', { class: e.derived?.flagged ? 'flagged' : '' },
          h('span', { class: 'when', text: formatTime(hlcMs(eventTime(e)), 'datetime') }),
          e.derived?.author_role && h('span', { class: 'who', text: label('role', e.derived.author_role) }),
          h('p', { text: e.kind === 'status' ? `${t('field.status')}: ${label('referral_status', e.status)}` : e.note }),
          e.derived?.flagged && h('p', { class: 'tag bad', text: `⚠ ${t('referral.not_applied')}${e.derived.flag_reason ? ` (${label('flag_reason', e.derived.flag_reason)})` : ''}` }),
          e.refused ? sentMark(e) : e.pending && h('span', { class: 'tag wait', text: `⬆ ${t('sync.waiting')}` })))) : h('p', { class: 'hint', text: t('referral.no_history') })),
    );
  }
  await draw();
  const off = onData(draw);
  return () => { off(); store.flush(); };
}
