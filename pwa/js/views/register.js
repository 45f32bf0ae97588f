/** Daftarkan warga: the consent step first, then the person, a duplicate check, an optional
 *  migration plan. Also the correction of a person's data (edit). */

import { request } from '../api.js';
import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, options, label, lang, formatDate, todayWIB } from '../i18n.js';
import { parseNik, nikWarnings, normalisePhone, isChild, checkDate } from '../validate.js';
import { regionIndex, desaPicker, desaName } from '../refdata.js';
import { refusalNotice } from './visits.js';
import {
  h, setTitle, go, draft, field, toggles, textInput, wizard, button, toast, newId, notice,
} from '../ui.js';

// The version of the notice read to the person, and how long data is kept (stated in it).
export const NOTICE_VERSION = '2024-10';
export const RETENTION_YEARS = 5;
const PERSON_FIELDS = ['name', 'nik', 'sex', 'birth_date', 'phone', 'desa_code', 'address',
  'marital_status', 'education', 'disability', 'migration_status'];
// Cirebon's usual destinations first (Taiwan most), then every other country.
const USUAL = ['TW', 'HK', 'MY', 'KR', 'SG', 'JP', 'SA', 'AE', 'TR', 'MV'];
const COUNTRIES = `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
GY HK HM HN HR HT HU IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`.split(/\s+/);

const yesNo = () => [['ya', t('ui.yes')], ['tidak', t('ui.no')]];
const msg = (p) => (p ? t(p.key, p.vars) : '');
const fold = (s) => (s || '').toLowerCase().split(/\s+/).filter(Boolean).join(' ');

/** Same person? The same NIK, or a similar name with the same birth date (and desa). */
async function findDuplicates(p, session, exceptId) {
  const nik = p.nik ? parseNik(p.nik).nik?.number : null;
  const wanted = fold(p.name);
  const found = new Map();
  const local = await listRecords('persons', (r) => r.id !== exceptId && ((nik && r.nik === nik)
    || (p.birth_date && r.birth_date === p.birth_date && r.desa_code === p.desa_code
      && (fold(r.name).includes(wanted) || wanted.includes(fold(r.name))))));
  for (const r of local) found.set(r.id, { person: r, match: nik && r.nik === nik ? 'nik' : 'name_birth_date' });
  if (navigator.onLine && (nik || p.birth_date)) {
    const q = new URLSearchParams(nik ? { nik } : {});
    if (p.birth_date) {
      q.set('name', p.name.trim());
      q.set('birth_date', p.birth_date);
      q.set('desa_code', p.desa_code);
    }
    try {
      const { items } = await request('GET', `/api/persons/duplicates?${q}`, null, session.token);
      for (const item of items) if (item.person.id !== exceptId && !found.has(item.person.id)) found.set(item.person.id, item);
    } catch { /* offline or refused: the local check stands */ }
  }
  return [...found.values()];
}

function countryOptions() {
  let names;
  try {
    names = new Intl.DisplayNames([lang()], { type: 'region' });
  } catch { names = { of: (c) => c }; }
  const name = (c) => names.of(c) || c;
  const rest = COUNTRIES.filter((c) => !USUAL.includes(c)).map((c) => [c, name(c)])
    .sort((a, b) => a[1].localeCompare(b[1]));
  return { usual: USUAL.map((c) => [c, name(c)]), rest };
}

/** The person steps, shared by registration and correction. */
function personSteps(state, touch, index, { redraw, session, exceptId, onDuplicates, guardianBlock }) {
  const p = state.person;
  const c = state.consent || {};
  const child = () => !!(isChild(p.birth_date) || c.is_child === 'ya');

  const guardianOk = () => !child() || (c.guardian_name?.trim() && c.guardian_relation);

  const identity = () => {
    const name = field(t('field.name'), textInput(p, 'name', { maxLength: 120, autocomplete: 'off' }));
    const sex = toggles({ legend: t('field.sex'), name: 'sex', value: p.sex, opts: options('sex'), onChange: (v) => { p.sex = v; touch(); nikCheck(false); } });
    const badge = h('span', { class: 'badge child', text: `★ ${t('person.child')}`, hidden: !isChild(p.birth_date) });
    const birth = field(t('field.birth_date'), h('input', {
      type: 'date', value: p.birth_date || '', max: todayWIB(), min: '1900-01-01',
      oninput: (e) => {
        const was = child();
        p.birth_date = e.target.value;
        badge.hidden = !isChild(p.birth_date);
        nikCheck(false);
        if (was !== child()) redraw();
      },
    }), { badge, hint: t('person.birth_hint') });
    const nikInput = textInput(p, 'nik', { inputmode: 'numeric', maxLength: 24, autocomplete: 'off', onInput: () => nikCheck(false) });
    const nik = field(t('field.nik'), nikInput, { hint: t('person.nik_hint') });
    nikInput.addEventListener('change', () => nikCheck(true));
    function nikCheck(final) {
      const raw = (p.nik || '').trim();
      if (!raw) { nik.setError(''); nik.setWarn(''); return true; }
      const digits = raw.replace(/[\s.\-()]/g, '');
      const r = parseNik(raw);
      // While typing, a short NIK is not yet wrong.
      nik.setError(r.error && (final || digits.length >= 16 || /[^0-9]/.test(digits)) ? msg(r.error) : '');
      nik.setWarn(r.nik ? nikWarnings(r.nik, p.sex, p.birth_date).map(msg).join(' ') : '');
      return !r.error;
    }
    const phoneInput = textInput(p, 'phone', { type: 'tel', inputmode: 'tel', maxLength: 20, autocomplete: 'off' });
    const phone = field(t('field.phone'), phoneInput, { hint: t('person.phone_hint') });
    function phoneCheck() {
      if (!p.phone?.trim()) { phone.setError(''); return true; }
      const r = normalisePhone(p.phone);
      if (r.value) {
        p.phone = r.value;
        phoneInput.value = r.value;
      }
      phone.setError(msg(r.error));
      return !r.error;
    }
    phoneInput.addEventListener('change', () => { phoneCheck(); touch(); });
    nikCheck(false);
    return {
      name: t('person.step_identity'),
      body: [name, sex, birth, nik, phone, guardianBlock && child() && guardianBlock(true)],
      check: () => {
        let ok = true;
        name.setError(p.name?.trim() ? '' : t('v.required'));
        ok &&= !!p.name?.trim();
        sex.setError(p.sex ? '' : t('v.choose_one'));
        ok &&= !!p.sex;
        const bd = checkDate(p.birth_date, { earliest: '1900-01-01' });
        birth.setError(msg(bd));
        ok = nikCheck(true) && phoneCheck() && !bd && ok;
        if (guardianBlock && !guardianOk()) {
          state.guardianError = true;
          redraw();
          return false;
        }
        return ok;
      },
    };
  };

  const place = () => {
    const desa = desaPicker({ value: p.desa_code, index, onChange: (code) => { p.desa_code = code; touch(); } });
    const address = field(t('field.address'), textInput(p, 'address', { maxLength: 255, multiline: true }));
    const status = toggles({ legend: t('field.migration_status'), name: 'migration_status', value: p.migration_status, opts: options('migration_status'), onChange: (v) => { p.migration_status = v; touch(); } });
    const marital = toggles({ legend: t('field.marital_status'), name: 'marital_status', value: p.marital_status, opts: options('marital_status'), onChange: (v) => { p.marital_status = v; touch(); } });
    const education = toggles({ legend: t('field.education'), name: 'education', value: p.education, opts: options('education'), onChange: (v) => { p.education = v; touch(); } });
    const disability = toggles({ legend: t('field.disability'), name: 'disability', value: p.disability ? 'ya' : 'tidak', opts: yesNo(), onChange: (v) => { p.disability = v === 'ya'; touch(); } });
    const dupBox = h('div', { 'aria-live': 'polite' });
    return {
      name: t('person.step_place'),
      body: [desa, address, status, marital, education, disability, dupBox],
      check: async () => {
        desa.setError(p.desa_code ? '' : t('v.required'));
        status.setError(p.migration_status ? '' : t('v.choose_one'));
        if (!p.desa_code || !p.migration_status) return false;
        if (!onDuplicates || state.notDuplicate === dupKey(p)) return true;
        const dups = await findDuplicates(p, session, exceptId);
        if (!dups.length) return true;
        dupBox.replaceChildren(onDuplicates(dups));
        dupBox.scrollIntoView({ block: 'start' });
        return false;
      },
    };
  };
  return { identity, place };
}

const dupKey = (p) => [p.nik, fold(p.name), p.birth_date, p.desa_code].join('|');

export async function register(main, { session }) {
  setTitle(t('register.title'));
  const user = session.user;
  const community = user.role === 'community';
  const store = draft('person:new', () => ({ ...state }));
  const saved = await store.load();
  const state = saved || {
    step: 1,
    consent: { purposes: community ? [] : ['pencatatan'], method: null, notice_read: false, is_child: 'tidak', guardian_name: '', guardian_relation: null },
    person: { name: '', nik: '', sex: null, birth_date: '', phone: '', desa_code: user.desa_code || null, address: '', marital_status: null, education: null, disability: false, migration_status: null },
    plan: { destination_country: null, sector: null, scheme: 'tidak_diketahui', agency_name: '', informal_recruiter: false, fee_asked: null, documents: [] },
  };
  const index = await regionIndex();
  const touch = () => store.save();
  const box = h('form', { class: 'form', novalidate: true, onsubmit: (e) => e.preventDefault(), oninput: touch });
  if (saved) main.append(h('p', { class: 'notice ok', text: `↺ ${t('ui.draft_restored')}` }));
  main.append(box);
  const c = state.consent;
  const p = state.person;
  const plan = state.plan;

  const consentStep = () => {
    const text = [
      ['consent.h_purpose', 'consent.p_purpose'],
      ['consent.h_data', 'consent.p_data'],
      ['consent.h_keep', 'consent.p_keep'],
      ['consent.h_rights', 'consent.p_rights'],
      ['consent.h_basis', community ? 'consent.p_basis_consent' : 'consent.p_basis_public'],
    ];
    const notice_ = h('section', { class: 'card consent', lang: lang() },
      text.map(([head, para]) => [h('h2', { text: t(head) }), h('p', { text: t(para, { years: RETENTION_YEARS }) })]));
    const speak = 'speechSynthesis' in window && button(`🔊 ${t('consent.read_aloud')}`, () => {
      speechSynthesis.cancel();
      const u = new SpeechSynthesisUtterance(notice_.textContent);
      u.lang = lang() === 'en' ? 'en-GB' : 'id-ID';
      speechSynthesis.speak(u);
    }, 'secondary wide');
    const purposes = toggles({ legend: t('field.purposes'), name: 'purposes', multiple: true, value: c.purposes, opts: options('consent_purpose'), onChange: (v) => { c.purposes = v; touch(); } });
    const method = toggles({ legend: t('field.consent_method'), name: 'method', value: c.method, opts: options('consent_method'), onChange: (v) => { c.method = v; touch(); } });
    const childQ = toggles({ legend: t('consent.is_child'), name: 'is_child', value: c.is_child, opts: yesNo(), onChange: (v) => { c.is_child = v; touch(); redraw(); } });
    const read = toggles({ legend: t('consent.confirm_legend'), name: 'notice_read', multiple: true, value: c.notice_read ? ['ya'] : [], opts: [['ya', t(community ? 'consent.confirm_consent' : 'consent.confirm_public')]], onChange: (v) => { c.notice_read = v.includes('ya'); touch(); } });
    return {
      name: t('register.step_consent'),
      body: [notice_, speak, purposes, method, childQ, guardianBlock(false), read],
      check: () => {
        purposes.setError(c.purposes.length ? '' : t('v.choose_one'));
        method.setError(c.method ? '' : t('v.choose_one'));
        read.setError(c.notice_read ? '' : t('consent.must_confirm'));
        const guardianOk = c.is_child !== 'ya' || (c.guardian_name?.trim() && c.guardian_relation);
        if (!guardianOk) { state.guardianError = true; redraw(); return false; }
        return c.purposes.length && c.method && c.notice_read;
      },
    };
  };
  function guardianBlock(force) {
    if (!force && c.is_child !== 'ya') return null;
    const name = field(t('field.guardian_name'), textInput(c, 'guardian_name', { maxLength: 120, autocomplete: 'off' }));
    name.setError(state.guardianError && !c.guardian_name?.trim() ? t('v.guardian_required') : '');
    const relation = toggles({
      legend: t('field.guardian_relation'), name: 'guardian_relation', value: c.guardian_relation, opts: options('guardian_relation'),
      onChange: (v) => { c.guardian_relation = v; touch(); },
    });
    if (state.guardianError && !c.guardian_relation) relation.setError(t('v.choose_one'));
    return [h('p', { class: 'notice warn', text: `★ ${t('consent.child_note')}` }), name, relation];
  }

  const onDuplicates = (dups) => h('section', { class: 'card dups', role: 'alert' },
    h('h2', { text: t('dup.title') }),
    h('p', { text: t('dup.explain') }),
    h('ul', { class: 'items' }, dups.map(({ person: d, match }) => h('li', { class: 'item' },
      h('strong', { text: d.name }),
      h('span', { text: [d.sex && label('sex', d.sex), d.birth_date && formatDate(d.birth_date), desaName(index, d.desa_code)].filter(Boolean).join(' · ') }),
      h('span', { class: 'tag', text: t(`dup.match_${match}`) }),
      button(t('dup.open'), async () => { await store.clear(); go(`/warga/${d.id}`); }, 'secondary')))),
    button(t('dup.not_same'), () => { state.notDuplicate = dupKey(p); state.step += 1; touch(); redraw(); }, 'secondary wide', { id: 'not-duplicate' }));

  const steps = personSteps(state, touch, index, { redraw: () => redraw(), session, onDuplicates, guardianBlock });
  const planStep = () => {
    const { usual, rest } = countryOptions();
    const other = plan.destination_country && !USUAL.includes(plan.destination_country);
    const dest = toggles({ legend: t('field.destination_country'), name: 'destination', value: other ? 'other' : plan.destination_country, opts: [...usual, ['other', t('plan.other_country')]], onChange: (v) => { plan.destination_country = v === 'other' ? null : v; touch(); redraw(); } });
    const otherSel = (other || (!plan.destination_country && box.querySelector('input[name=destination][value=other]:checked')))
      ? field(t('plan.other_country'), h('select', { onchange: (e) => { plan.destination_country = e.target.value || null; touch(); } },
        h('option', { value: '', text: t('ui.choose') }), rest.map(([code, n]) => h('option', { value: code, text: n, selected: code === plan.destination_country }))))
      : null;
    const sector = toggles({ legend: t('field.sector'), name: 'sector', value: plan.sector, opts: options('sector'), onChange: (v) => { plan.sector = v; touch(); } });
    const scheme = toggles({ legend: t('field.scheme'), name: 'scheme', value: plan.scheme, opts: options('scheme'), onChange: (v) => { plan.scheme = v; touch(); } });
    const agency = field(t('field.agency_name'), textInput(plan, 'agency_name', { maxLength: 200 }));
    const recruiter = toggles({ legend: t('field.informal_recruiter'), name: 'informal_recruiter', value: plan.informal_recruiter ? 'ya' : 'tidak', opts: yesNo(), onChange: (v) => { plan.informal_recruiter = v === 'ya'; touch(); } });
    const feeInput = h('input', { type: 'text', inputmode: 'numeric', value: plan.fee_asked ?? '', autocomplete: 'off',
      oninput: (e) => {
        const digits = e.target.value.replace(/\D/g, '');
        plan.fee_asked = digits ? Math.min(+digits, 1e12) : null;
      } });
    const fee = field(t('field.fee_asked'), feeInput, { hint: t('plan.fee_hint') });
    const docs = toggles({ legend: t('field.documents'), name: 'documents', multiple: true, value: plan.documents, opts: options('document'), onChange: (v) => { plan.documents = v; touch(); } });
    return {
      name: t('register.step_plan'),
      body: [h('p', { class: 'hint', text: t('plan.optional') }), dest, otherSel, sector, scheme, agency, recruiter, fee, docs],
    };
  };

  async function save() {
    const personId = newId();
    const child = !!(isChild(p.birth_date) || c.is_child === 'ya');
    const fields = personFields(p);
    fields.lawful_basis = community ? 'persetujuan' : 'tugas_publik';
    fields.archived_at = null;
    await saveEdit('persons', personId, fields);
    const given = new Date();
    const [y, m, d] = todayWIB(given).split('-');
    await saveEdit('consents', newId(), {
      person_id: personId, purposes: c.purposes, notice_version: NOTICE_VERSION, method: c.method,
      guardian_name: child && c.guardian_name?.trim() ? c.guardian_name.trim() : null,
      guardian_relation: child && c.guardian_relation ? c.guardian_relation : null,
      given_at: given.toISOString(), withdrawn_at: null, keep_until: `${+y + RETENTION_YEARS}-${m}-${d}`,
    });
    const planGiven = plan.destination_country || plan.sector || plan.agency_name.trim() || plan.informal_recruiter
      || plan.fee_asked != null || plan.documents.length || plan.scheme !== 'tidak_diketahui';
    if (planGiven) {
      await saveEdit('migration_plans', newId(), {
        person_id: personId, destination_country: plan.destination_country, sector: plan.sector, scheme: plan.scheme,
        agency_name: plan.agency_name.trim(), informal_recruiter: plan.informal_recruiter, fee_asked: plan.fee_asked, documents: plan.documents,
      });
    }
    await store.clear();
    toast(t('register.saved', { name: fields.name }));
    go(`/warga/${personId}`);
  }

  const redraw = wizard(box, {
    state, touch, finish: save, finishText: t('ui.save'),
    steps: [consentStep, steps.identity, steps.place, planStep],
  });
  return () => store.flush();
}

/** The synced fields of a person from the form's state, normalised. */
function personFields(p) {
  const nik = p.nik?.trim() ? parseNik(p.nik).nik.number : null;
  const phone = p.phone?.trim() ? normalisePhone(p.phone).value : null;
  return {
    name: p.name.trim(), nik, sex: p.sex, birth_date: p.birth_date || null, phone, desa_code: p.desa_code,
    address: (p.address || '').trim(), marital_status: p.marital_status, education: p.education,
    disability: !!p.disability, migration_status: p.migration_status,
  };
}

/** Correct a person's data (two steps, no new consent). */
export async function edit(main, { params: [id], session }) {
  setTitle(t('person.edit_title'));
  const record = await getRecord('persons', id);
  if (!record) {
    main.append(notice(t('ui.not_found')));
    return;
  }
  const store = draft(`person:${id}`, () => ({ ...state }));
  const saved = await store.load();
  const state = saved || {
    step: 1,
    person: Object.fromEntries(PERSON_FIELDS.map((k) => [k, record[k] ?? (k === 'nik' || k === 'phone' ? '' : null)])),
  };
  const index = await regionIndex();
  const touch = () => store.save();
  const box = h('form', { class: 'form', novalidate: true, onsubmit: (e) => e.preventDefault(), oninput: touch });
  const why = refusalNotice(record);
  if (why) main.append(why);
  main.append(box);
  const steps = personSteps(state, touch, index, { redraw: () => redraw(), session, exceptId: id });
  const redraw = wizard(box, {
    state, touch, finishText: t('ui.save'), steps: [steps.identity, steps.place],
    finish: async () => {
      const fields = personFields(state.person);
      const changed = Object.fromEntries(Object.entries(fields).filter(([k, v]) => JSON.stringify(v ?? null) !== JSON.stringify(record[k] ?? null)));
      // Saving a refused person sends it again, corrected or not, as the same record.
      if (Object.keys(changed).length || record.refused) await saveEdit('persons', id, changed);
      await store.clear();
      toast(t('person.saved'));
      go(`/warga/${id}`);
    },
  });
  return () => store.flush();
}

