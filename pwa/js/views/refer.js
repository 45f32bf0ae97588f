/** Rujuk ke LTSA: services (MRC and LTSA desks), urgency, reason, case category; a child is flagged. */

import { getRecord, saveEdit } from '../db.js';
import { t, options, label } from '../i18n.js';
import { isChild } from '../validate.js';
import { h, setTitle, go, draft, field, toggles, select, textInput, actions, button, toast, newId, notice } from '../ui.js';

const MRC = ['informasi_migrasi_aman', 'konsultasi_pra_penempatan', 'konsultasi_purna', 'pengaduan_kasus',
  'bantuan_hukum', 'konseling_psikososial', 'layanan_responsif_gender', 'pelatihan'];

export async function render(main, { params: [personId] }) {
  setTitle(t('refer.title'));
  const person = await getRecord('persons', personId);
  if (!person) {
    main.append(notice(t('ui.not_found')));
    return;
  }
  const store = draft(`referral:${personId}`, () => ({ ...state }));
  const saved = await store.load();
  const state = saved || { services: [], urgency: 'biasa', reason: '', case_category: null };
  const touch = () => store.save();
  const all = options('service');
  const group = (codes, inGroup) => all.filter(([code]) => codes.includes(code) === inGroup);
  // Two fieldsets, one list of services: each keeps the other's choices.
  const pick = (inGroup) => (chosen) => {
    state.services = [...new Set([...state.services.filter((s) => MRC.includes(s) !== inGroup), ...chosen])];
    touch();
  };
  const mrc = toggles({ legend: t('refer.services_mrc'), name: 'svc_mrc', multiple: true, value: state.services, opts: group(MRC, true), onChange: pick(true) });
  const ltsa = toggles({ legend: t('refer.services_ltsa'), name: 'svc_ltsa', multiple: true, value: state.services, opts: group(MRC, false), onChange: pick(false) });
  const urgency = toggles({
    legend: t('field.urgency'), name: 'urgency', value: state.urgency, cls: 'urgency',
    opts: options('urgency').map(([code, text]) => [code, `${t(`urgency_mark.${code}`)} ${text}`]),
    onChange: (v) => { state.urgency = v; touch(); },
  });
  const reason = field(t('field.reason'), textInput(state, 'reason', { multiline: true, maxLength: 5000 }), { hint: t('refer.reason_hint') });
  const category = field(t('field.case_category'), select(options('case_category'), state.case_category, (v) => { state.case_category = v; touch(); }, t('refer.no_case')));
  const submit = button(t('refer.submit'), async () => {
    mrc.setError(state.services.length ? '' : t('refer.choose_service'));
    if (!state.services.length) {
      mrc.scrollIntoView({ block: 'center' });
      return;
    }
    submit.disabled = true;
    const id = newId();
    await saveEdit('referrals', id, {
      person_id: personId, services: state.services, reason: state.reason.trim(),
      case_category: state.case_category, urgency: state.urgency,
    });
    await store.clear();
    toast(t('refer.saved'));
    go(`/rujukan/${id}`);
  }, 'primary', { id: 'save' });
  const form = h('form', { class: 'form', novalidate: true, onsubmit: (e) => e.preventDefault(), oninput: touch },
    saved && h('p', { class: 'notice ok', text: `↺ ${t('ui.draft_restored')}` }),
    h('section', { class: 'card' },
      h('p', { class: 'big', text: person.name }),
      h('p', { text: [label('sex', person.sex), label('migration_status', person.migration_status)].join(' · ') }),
      isChild(person.birth_date) && h('p', { class: 'notice warn', text: `★ ${t('refer.child_flag')}` })),
    mrc, ltsa, urgency, reason, category, actions(submit));
  main.append(form);
  return () => store.flush();
}
