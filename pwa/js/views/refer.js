/** Rujuk ke LTSA: services (MRC and LTSA desks), urgency, reason, case category; a child is
 *  flagged. */

import { getRecord, saveEdit } from '../db.js';
import { t, options, label } from '../i18n.js';
import { isChild } from '../validate.js';
import {
  h, setTitle, go, field, toggles, select, textInput, actions, button, toast, newId, notice,
} from '../ui.js';
import { draftForm, need } from '../components/form.js';

const MRC = ['informasi_migrasi_aman', 'konsultasi_pra_penempatan', 'konsultasi_purna',
  'pengaduan_kasus', 'bantuan_hukum', 'konseling_psikososial', 'layanan_responsif_gender',
  'pelatihan'];

// Two fieldsets, one list of services: each keeps the other's choices.
function serviceToggles({ state, touch }) {
  const all = options('service');
  const toggle = (inMrc, legend, name) => toggles({
    legend: t(legend), name, multiple: true, value: state.services,
    opts: all.filter(([code]) => MRC.includes(code) === inMrc),
    onChange: (chosen) => {
      const others = state.services.filter((s) => MRC.includes(s) !== inMrc);
      state.services = [...new Set([...others, ...chosen])];
      touch();
    },
  });
  return [toggle(true, 'refer.services_mrc', 'svc_mrc'),
    toggle(false, 'refer.services_ltsa', 'svc_ltsa')];
}

function personCard(person) {
  const about = [label('sex', person.sex), label('migration_status', person.migration_status)];
  return h('section', { class: 'card' },
    h('p', { class: 'big', text: person.name }),
    h('p', { text: about.join(' · ') }),
    isChild(person.birth_date)
      && h('p', { class: 'notice warn', text: `★ ${t('refer.child_flag')}` }));
}

async function send({ state, store, personId }, mrc, submit) {
  if (!need(mrc, state.services.length, t('refer.choose_service'))) {
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
}

export async function render(main, { params: [personId] }) {
  setTitle(t('refer.title'));
  const person = await getRecord('persons', personId);
  if (!person) {
    main.append(notice(t('ui.not_found')));
    return;
  }
  const initial = { services: [], urgency: 'biasa', reason: '', case_category: null };
  const ctx = { ...(await draftForm(main, `referral:${personId}`, initial)), personId };
  const { state, touch, box } = ctx;
  const [mrc, ltsa] = serviceToggles(ctx);
  const urgency = toggles({
    legend: t('field.urgency'), name: 'urgency', value: state.urgency, cls: 'urgency',
    opts: options('urgency').map(([code, text]) => [code, `${t(`urgency_mark.${code}`)} ${text}`]),
    onChange: (v) => { state.urgency = v; touch(); },
  });
  const reason = field(t('field.reason'),
    textInput(state, 'reason', { multiline: true, maxLength: 5000 }),
    { hint: t('refer.reason_hint') });
  const pickCategory = select(options('case_category'), state.case_category,
    (v) => { state.case_category = v; touch(); }, t('refer.no_case'));
  const category = field(t('field.case_category'), pickCategory);
  const submit = button(t('refer.submit'), () => send(ctx, mrc, submit), 'primary', { id: 'save' });
  box.append(personCard(person), mrc, ltsa, urgency, reason, category, actions(submit));
  return () => ctx.store.flush();
}
