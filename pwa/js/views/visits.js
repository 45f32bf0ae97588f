/** Kunjungan penjangkauan: the list, and the form in two steps (new or edit). */

import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, options, label, formatDate, todayWIB, serverText } from '../i18n.js';
import { normaliseRtRw, checkDate } from '../validate.js';
import { reference, regionIndex, desaPicker, desaName } from '../refdata.js';
import {
  h, setTitle, go, draft, field, toggles, stepper, textInput, wizard, actions, button,
  toast, newId, notice, onData,
} from '../ui.js';

const FIELDS = ['visit_type', 'visit_date', 'desa_code', 'dusun', 'rt', 'rw', 'community_group_id',
  'topics', 'participants_male', 'participants_female', 'participants_children', 'notes'];
const PAGE = 30;

/** Why the server refused an edit, in one line: invalid data is said by its fields. */
export function refusalReason(r) {
  return r.reason === 'invalid' ? label('refusal_reason', 'invalid') : serverText(r.message) || label('refusal_reason', r.reason);
}

/** The field messages of a refusal, one list item each. */
export function fieldErrors(errors) {
  // A refused batch names the mutation's "fields"; a refused mutation names the fields.
  const fields = errors?.fields && !Array.isArray(errors.fields) ? errors.fields : errors;
  if (!fields || typeof fields !== 'object') return [];
  return Object.entries(fields).map(([name, msgs]) => h('li', {
    text: `${t(`field.${name}`)}: ${[].concat(msgs).map((m) => (typeof m === 'string' ? m : serverText(m) || JSON.stringify(m))).join(' ')}`,
  }));
}

/** On a record's screen: why the server refused its edits, and what to do (null if none). */
export function refusalNotice(record) {
  if (!record.refused) return null;
  return h('div', { class: 'notice err', role: 'alert' },
    record.refused.map((r) => [h('p', { text: `✖ ${t('sync.refused_mark')}: ${refusalReason(r)}` }), h('ul', { class: 'errs' }, fieldErrors(r.errors))]),
    h('p', { text: t('sync.refused_fix') }));
}

/** A refused/pending/sent marker in words and a symbol, never colour alone. */
export function sentMark(record) {
  if (record.refused) return h('span', { class: 'tag bad', text: `✖ ${t('sync.refused_mark')} · ${refusalReason(record.refused[0])}` });
  return record.pending
    ? h('span', { class: 'tag wait', text: `⬆ ${t('sync.waiting')}` })
    : h('span', { class: 'tag ok', text: `✓ ${t('sync.sent')}` });
}

export async function list(main) {
  setTitle(t('visits.title'));
  const index = await regionIndex();
  const ul = h('ul', { class: 'items' });
  const more = button(t('ui.more_items'), () => draw(shown + PAGE), 'secondary wide');
  let shown = PAGE;
  const draw = async (n = shown) => {
    shown = n;
    const visits = await listRecords('visits');
    ul.replaceChildren(...visits.slice(0, n).map((v) => h('li', null, h('a', { href: `#/kunjungan/${v.id}`, class: 'item' },
      h('strong', { text: label('visit_type', v.visit_type) }),
      h('span', { text: `${formatDate(v.visit_date)} · ${desaName(index, v.desa_code)}` }),
      h('span', { text: t('visits.participants_total', { n: (v.participants_male || 0) + (v.participants_female || 0) + (v.participants_children || 0) }) }),
      sentMark(v)))));
    if (!visits.length) ul.append(h('li', { class: 'hint', text: t('visits.none') }));
    more.hidden = visits.length <= n;
  };
  await draw();
  main.append(ul, more, actions(h('a', { href: '#/kunjungan/baru', class: 'btn primary', text: `+ ${t('nav.new_visit')}` })));
  return onData(() => draw());
}

export async function form(main, { params: [which], session }) {
  const user = session.user;
  const isNew = which === 'baru';
  const record = isNew ? null : await getRecord('visits', which);
  setTitle(t(isNew ? 'visit.new_title' : 'visit.edit_title'));
  if (!isNew && !record) {
    main.append(notice(t('ui.not_found')));
    return;
  }
  const why = record && refusalNotice(record);
  if (why) main.append(why);
  const initial = record
    ? Object.fromEntries(FIELDS.map((k) => [k, record[k]]))
    : {
      visit_type: null, visit_date: todayWIB(), desa_code: user.desa_code || null, dusun: '', rt: '', rw: '',
      community_group_id: user.role === 'community' ? user.community_group_id : null, topics: [],
      participants_male: 0, participants_female: 0, participants_children: 0, notes: '',
    };
  const store = draft(isNew ? 'visit:new' : `visit:${which}`, () => ({ ...state }));
  const saved = await store.load();
  const state = { step: 1, ...initial, ...(saved || {}) };
  if (user.role === 'community') state.community_group_id = user.community_group_id;
  const [index, groups] = await Promise.all([regionIndex(), reference('groups')]);
  const touch = () => store.save();
  const box = h('form', { class: 'form', novalidate: true, onsubmit: (e) => e.preventDefault(), oninput: touch });
  main.append(box);
  if (saved) main.prepend(h('p', { class: 'notice ok', text: `↺ ${t('ui.draft_restored')}` }));

  function groupChoice() {
    if (user.role === 'community') {
      const mine = groups.find((g) => g.id === user.community_group_id);
      return field(t('field.community_group'), h('input', { type: 'text', readOnly: true, value: mine?.name || t('visit.my_group') }));
    }
    const here = groups.filter((g) => g.desa_code === state.desa_code);
    if (!here.length) return null;
    return toggles({
      legend: t('field.community_group'), name: 'group', value: state.community_group_id ?? '',
      opts: [['', t('visit.no_group')], ...here.map((g) => [g.id, g.name])],
      onChange: (v) => { state.community_group_id = v || null; touch(); },
    });
  }

  const steps = [
    () => {
      const type = toggles({
        legend: t('field.visit_type'), name: 'visit_type', value: state.visit_type, opts: options('visit_type'),
        onChange: (v) => { state.visit_type = v; touch(); },
      });
      const date = field(t('field.visit_date'), h('input', {
        type: 'date', value: state.visit_date || '', max: todayWIB(), required: true,
        oninput: (e) => { state.visit_date = e.target.value; },
      }));
      const place = desaPicker({ value: state.desa_code, index, onChange: (code) => {
        state.desa_code = code;
        if (user.role !== 'community') state.community_group_id = null;
        touch();
        draw();
      } });
      const dusun = field(t('field.dusun'), textInput(state, 'dusun', { maxLength: 100 }));
      const rt = field(t('field.rt'), textInput(state, 'rt', { inputmode: 'numeric', maxLength: 3, pattern: '[0-9]*' }));
      const rw = field(t('field.rw'), textInput(state, 'rw', { inputmode: 'numeric', maxLength: 3, pattern: '[0-9]*' }));
      const check = () => {
        let ok = true;
        type.setError(state.visit_type ? '' : t('v.choose_one'));
        ok &&= !!state.visit_type;
        const dateProblem = checkDate(state.visit_date, { required: true });
        date.setError(dateProblem ? t(dateProblem.key, dateProblem.vars) : '');
        ok &&= !dateProblem;
        place.setError(state.desa_code ? '' : t('v.required'));
        ok &&= !!state.desa_code;
        for (const [key, f] of [['rt', rt], ['rw', rw]]) {
          const r = normaliseRtRw(state[key]);
          f.setError(r.error ? t(r.error.key) : '');
          ok &&= !r.error;
        }
        return ok;
      };
      return {
        name: t('visit.step1'),
        body: [type, date, place, dusun, h('div', { class: 'row2' }, rt, rw), groupChoice()],
        check,
      };
    },
    () => {
      const topics = toggles({
        legend: t('field.topics'), name: 'topics', multiple: true, value: state.topics, opts: options('topic'),
        onChange: (v) => { state.topics = v; touch(); },
      });
      const counts = ['participants_male', 'participants_female', 'participants_children'].map((key) => stepper({
        label: t(`field.${key}`), value: state[key], onChange: (v) => { state[key] = v; touch(); },
      }));
      const notes = field(t('field.notes'), textInput(state, 'notes', { multiline: true, maxLength: 5000 }));
      return {
        name: t('visit.step2'),
        body: [topics, h('fieldset', { class: 'plain' }, h('legend', { text: t('visit.participants') }), counts), notes],
        check: () => true,
      };
    },
  ];

  async function save() {
    const fields = Object.fromEntries(FIELDS.map((k) => [k, state[k]]));
    fields.rt = normaliseRtRw(fields.rt).value;
    fields.rw = normaliseRtRw(fields.rw).value;
    fields.dusun = (fields.dusun || '').trim();
    fields.notes = (fields.notes || '').trim();
    const changed = record
      ? Object.fromEntries(Object.entries(fields).filter(([k, v]) => JSON.stringify(v ?? null) !== JSON.stringify(record[k] ?? null)))
      : fields;
    const id = record ? record.id : newId();
    // Saving a refused visit sends it again, corrected or not, as the same record.
    if (Object.keys(changed).length || record?.refused) await saveEdit('visits', id, changed);
    await store.clear();
    toast(t('visit.saved'));
    go('/kunjungan');
  }

  const draw = wizard(box, { state, touch, steps, finish: save, finishText: t('ui.save') });
  return () => store.flush();
}
