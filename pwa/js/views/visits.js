/** Kunjungan penjangkauan: the list, and the form in two steps (new or edit). */

import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, options, label, formatDate, todayWIB } from '../i18n.js';
import { normaliseRtRw, checkDate } from '../validate.js';
import { reference, regionIndex, desaPicker, desaName } from '../refdata.js';
import {
  h, setTitle, go, field, toggles, stepper, textInput, actions, toast, newId, notice, onData,
} from '../ui.js';
import { draftForm, wizard, need, changedFields } from '../components/form.js';
import { pagedList, itemLink } from '../components/list.js';
import { sentMark, refusalNotice } from '../components/marks.js';
import { confirmAction } from '../components/confirm.js';

const FIELDS = ['visit_type', 'visit_date', 'desa_code', 'dusun', 'rt', 'rw', 'community_group_id',
  'topics', 'participants_male', 'participants_female', 'participants_children', 'notes'];
const COUNTS = ['participants_male', 'participants_female', 'participants_children'];

export async function list(main) {
  setTitle(t('visits.title'));
  const index = await regionIndex();
  const visits = pagedList({
    load: () => listRecords('visits'),
    empty: t('visits.none'),
    item: (v) => itemLink(`#/kunjungan/${v.id}`,
      h('strong', { text: label('visit_type', v.visit_type) }),
      h('span', { text: `${formatDate(v.visit_date)} · ${desaName(index, v.desa_code)}` }),
      h('span', {
        text: t('visits.participants_total', { n: COUNTS.reduce((n, k) => n + (v[k] || 0), 0) }),
      }),
      sentMark(v)),
  });
  await visits.reload();
  const add = h('a', {
    href: '#/kunjungan/baru', class: 'btn primary', text: `+ ${t('nav.new_visit')}`,
  });
  main.append(...visits.el, actions(add));
  return onData(() => visits.reload());
}

function blankVisit(user) {
  return {
    visit_type: null, visit_date: todayWIB(), desa_code: user.desa_code || null, dusun: '',
    rt: '', rw: '', topics: [], notes: '',
    community_group_id: user.role === 'community' ? user.community_group_id : null,
    participants_male: 0, participants_female: 0, participants_children: 0,
  };
}

function groupChoice({ state, touch, user, groups }) {
  if (user.role === 'community') {
    const mine = groups.find((g) => g.id === user.community_group_id);
    const value = mine?.name || t('visit.my_group');
    return field(t('field.community_group'), h('input', { type: 'text', readOnly: true, value }));
  }
  const here = groups.filter((g) => g.desa_code === state.desa_code);
  if (!here.length) return null;
  return toggles({
    legend: t('field.community_group'), name: 'group', value: state.community_group_id ?? '',
    opts: [['', t('visit.no_group')], ...here.map((g) => [g.id, g.name])],
    onChange: (v) => { state.community_group_id = v || null; touch(); },
  });
}

function whereStep(ctx) {
  const { state, touch, user, index } = ctx;
  const type = toggles({
    legend: t('field.visit_type'), name: 'visit_type', value: state.visit_type,
    opts: options('visit_type'), onChange: (v) => { state.visit_type = v; touch(); },
  });
  const date = field(t('field.visit_date'), h('input', {
    type: 'date', value: state.visit_date || '', max: todayWIB(), required: true,
    oninput: (e) => { state.visit_date = e.target.value; },
  }));
  const place = desaPicker({ value: state.desa_code, index, onChange: (code) => {
    state.desa_code = code;
    if (user.role !== 'community') state.community_group_id = null;
    touch();
    ctx.redraw();
  } });
  const dusun = field(t('field.dusun'), textInput(state, 'dusun', { maxLength: 100 }));
  const number = { inputmode: 'numeric', maxLength: 3, pattern: '[0-9]*' };
  const rt = field(t('field.rt'), textInput(state, 'rt', number));
  const rw = field(t('field.rw'), textInput(state, 'rw', number));
  const check = () => {
    const dateProblem = checkDate(state.visit_date, { required: true });
    const rtRw = [['rt', rt], ['rw', rw]].map(([key, f]) => {
      const { error } = normaliseRtRw(state[key]);
      return need(f, !error, error && t(error.key));
    });
    return [
      need(type, state.visit_type, t('v.choose_one')),
      need(date, !dateProblem, dateProblem && t(dateProblem.key, dateProblem.vars)),
      need(place, state.desa_code),
      ...rtRw,
    ].every(Boolean);
  };
  return {
    name: t('visit.step1'),
    body: [type, date, place, dusun, h('div', { class: 'row2' }, rt, rw), groupChoice(ctx)],
    check,
  };
}

function whatStep({ state, touch }) {
  const topics = toggles({
    legend: t('field.topics'), name: 'topics', multiple: true, value: state.topics,
    opts: options('topic'), onChange: (v) => { state.topics = v; touch(); },
  });
  const counts = COUNTS.map((key) => stepper({
    label: t(`field.${key}`), value: state[key], onChange: (v) => { state[key] = v; touch(); },
  }));
  const notes = field(t('field.notes'),
    textInput(state, 'notes', { multiline: true, maxLength: 5000 }));
  const people = h('fieldset', { class: 'plain' },
    h('legend', { text: t('visit.participants') }), counts);
  return { name: t('visit.step2'), body: [topics, people, notes] };
}

async function saveVisit({ state, record, store }) {
  const fields = Object.fromEntries(FIELDS.map((k) => [k, state[k]]));
  fields.rt = normaliseRtRw(fields.rt).value;
  fields.rw = normaliseRtRw(fields.rw).value;
  fields.dusun = (fields.dusun || '').trim();
  fields.notes = (fields.notes || '').trim();
  const changed = changedFields(fields, record);
  // Saving a refused visit sends it again, corrected or not, as the same record.
  if (Object.keys(changed).length || record?.refused) {
    await saveEdit('visits', record ? record.id : newId(), changed);
  }
  await store.clear();
  toast(t('visit.saved'));
  go('/kunjungan');
}

/** A visit recorded by mistake: deleted after the user has read what that does (a tombstone,
 *  sent like any edit; the server deletes its copy and other phones drop theirs). */
function deleteBox(record, store) {
  return h('section', { class: 'card' }, confirmAction({
    action: `🗑 ${t('visit.delete')}`, explain: t('visit.delete_explain'),
    yes: t('visit.delete_yes'), id: 'delete-visit',
    run: async () => {
      await saveEdit('visits', record.id, {}, { op: 'delete' });
      await store.clear();
      toast(t('visit.deleted'));
      go('/kunjungan');
    },
  }));
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
  const initial = record ? Object.fromEntries(FIELDS.map((k) => [k, record[k]])) : blankVisit(user);
  const [index, groups] = await Promise.all([regionIndex(), reference('groups')]);
  const key = isNew ? 'visit:new' : `visit:${which}`;
  const { state, touch, box, store } = await draftForm(main, key, { step: 1, ...initial });
  if (user.role === 'community') state.community_group_id = user.community_group_id;
  const ctx = { state, touch, user, index, groups, record, store };
  const steps = [() => whereStep(ctx), () => whatStep(ctx)];
  const wiz = wizard(box, { state, steps, finish: () => saveVisit(ctx), finishText: t('ui.save') });
  ctx.redraw = wiz.redraw;
  if (record) main.append(deleteBox(record, store));
  return () => {
    wiz.stop();
    store.flush();
  };
}
