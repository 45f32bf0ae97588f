/** Daftarkan warga: the consent step first, then the person, a duplicate check, an optional
 *  migration plan. Also the correction of a person's data (edit). */

import { request } from '../api.js';
import { listRecords, getRecord, saveEdit } from '../db.js';
import { t, options, label, lang, formatDate, todayWIB, countryName } from '../i18n.js';
import {
  parseNik, nikWarnings, normalisePhone, isChild, checkDate, nikUnchanged,
} from '../validate.js';
import { regionIndex, desaPicker, desaName, retentionMonths } from '../refdata.js';
import { h, setTitle, go, field, toggles, textInput, button, toast, newId, notice } from '../ui.js';
import { draftForm, wizard, need, changedFields } from '../components/form.js';
import { refusalNotice } from '../components/marks.js';

// The version of the notice read to the person. How long data is kept (stated in it) is the
// server's RETENTION_MONTHS, read when the form opens.
export const NOTICE_VERSION = '2024-10';
let keepMonths = 60;
const PERSON_FIELDS = ['name', 'nik', 'sex', 'birth_date', 'phone', 'desa_code', 'address',
  'marital_status', 'education', 'disability', 'migration_status'];
// Cirebon's usual destinations first (Taiwan most), then every other country.
const USUAL = ['TW', 'HK', 'MY', 'KR', 'SG', 'JP', 'SA', 'AE', 'TR', 'MV'];
const COUNTRIES = `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
BN BO BQ BR
BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
GY HK HM HN HR HT HU IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
ZW`.split(/\s+/);

const yesNo = () => [['ya', t('ui.yes')], ['tidak', t('ui.no')]];
const msg = (p) => (p ? t(p.key, p.vars) : '');
const fold = (s) => (s || '').toLowerCase().split(/\s+/).filter(Boolean).join(' ');
const dupKey = (p) => [p.nik, fold(p.name), p.birth_date, p.desa_code].join('|');

/** Large toggles bound to obj[key]; a choice keeps the draft. */
function choice(ctx, obj, key, { legend = `field.${key}`, opts = options(key), ...rest } = {}) {
  return toggles({
    legend: t(legend), name: key, value: obj[key], opts,
    onChange: (v) => { obj[key] = v; ctx.touch(); },
    ...rest,
  });
}

/** People on this phone who may be the same person: the same NIK, or a similar name with the
 *  same birth date and desa. */
function localDuplicates(p, nik, exceptId) {
  const wanted = fold(p.name);
  const alike = (r) => fold(r.name).includes(wanted) || wanted.includes(fold(r.name));
  return listRecords('persons', (r) => r.id !== exceptId && ((nik && r.nik === nik)
    || (p.birth_date && r.birth_date === p.birth_date && r.desa_code === p.desa_code
      && alike(r))));
}

/** Same person? Asked on this phone, and of the server when online. */
async function findDuplicates(p, session, exceptId) {
  const nik = p.nik ? parseNik(p.nik).nik?.number : null;
  const found = new Map();
  for (const r of await localDuplicates(p, nik, exceptId)) {
    found.set(r.id, { person: r, match: nik && r.nik === nik ? 'nik' : 'name_birth_date' });
  }
  if (!navigator.onLine || !(nik || p.birth_date)) return [...found.values()];
  // In the body, never in the URL: access logs and proxies keep URLs.
  const query = nik ? { nik } : {};
  if (p.birth_date) {
    Object.assign(query, { name: p.name.trim(), birth_date: p.birth_date,
      desa_code: p.desa_code });
  }
  try {
    const { items } = await request('POST', '/api/persons/duplicates', query, session.token);
    for (const item of items) {
      const id = item.person.id;
      if (id !== exceptId && !found.has(id)) found.set(id, item);
    }
  } catch { /* offline or refused: the local check stands */ }
  return [...found.values()];
}

function countryOptions() {
  const name = countryName;
  const rest = COUNTRIES.filter((c) => !USUAL.includes(c)).map((c) => [c, name(c)])
    .sort((a, b) => a[1].localeCompare(b[1]));
  return { usual: USUAL.map((c) => [c, name(c)]), rest };
}

const isChildPerson = ({ person, consent }) => !!(isChild(person.birth_date)
  || consent?.is_child === 'ya');

/** The NIK with its check: an error only once it is surely wrong, warnings as one types. */
function nikField(p, onInput, stored) {
  const input = textInput(p, 'nik', {
    inputmode: 'numeric', maxLength: 24, autocomplete: 'off', onInput: () => onInput(),
  });
  const hint = t(stored ? 'person.nik_masked_hint' : 'person.nik_hint');
  const nik = field(t('field.nik'), input, { hint });
  nik.check = (final) => {
    const raw = (p.nik || '').trim();
    // The masked NIK of an edit (or an emptied field) keeps the stored one: nothing to check.
    if (nikUnchanged(raw, stored)) {
      nik.setError('');
      nik.setWarn('');
      return true;
    }
    const digits = raw.replace(/[\s.\-()]/g, '');
    const r = parseNik(raw);
    // While typing, a short NIK is not yet wrong.
    const sure = final || digits.length >= 16 || /[^0-9]/.test(digits);
    nik.setError(r.error && sure ? msg(r.error) : '');
    nik.setWarn(r.nik ? nikWarnings(r.nik, p.sex, p.birth_date).map(msg).join(' ') : '');
    return !r.error;
  };
  input.addEventListener('change', () => nik.check(true));
  return nik;
}

/** The phone number, written the one way once the user leaves the field. */
function phoneField(p, touch) {
  const input = textInput(p, 'phone',
    { type: 'tel', inputmode: 'tel', maxLength: 20, autocomplete: 'off' });
  const phone = field(t('field.phone'), input, { hint: t('person.phone_hint') });
  phone.check = () => {
    if (!p.phone?.trim()) return need(phone, true);
    const r = normalisePhone(p.phone);
    if (r.value) {
      p.phone = r.value;
      input.value = r.value;
    }
    return need(phone, !r.error, msg(r.error));
  };
  input.addEventListener('change', () => { phone.check(); touch(); });
  return phone;
}

function birthField(ctx, onChange) {
  const p = ctx.state.person;
  const badge = h('span', {
    class: 'badge child', text: `★ ${t('person.child')}`, hidden: !isChild(p.birth_date),
  });
  return field(t('field.birth_date'), h('input', {
    type: 'date', value: p.birth_date || '', max: todayWIB(), min: '1900-01-01',
    oninput: (e) => {
      const was = isChildPerson(ctx.state);
      p.birth_date = e.target.value;
      badge.hidden = !isChild(p.birth_date);
      onChange();
      if (was !== isChildPerson(ctx.state)) ctx.redraw();
    },
  }), { badge, hint: t('person.birth_hint') });
}

// A child's guardian, asked at registration: in the consent step when the person says they
// are a child, with the birth date when it shows one.
function guardianMissing(ctx, child) {
  const c = ctx.state.consent;
  if (!ctx.registering || !child) return false;
  if (c.guardian_name?.trim() && c.guardian_relation) return false;
  ctx.state.guardianError = true;
  ctx.redraw();
  return true;
}

function identityStep(ctx) {
  const p = ctx.state.person;
  const name = field(t('field.name'),
    textInput(p, 'name', { maxLength: 120, autocomplete: 'off' }));
  const nik = nikField(p, () => nik.check(false), ctx.record?.nik);
  const sex = toggles({
    legend: t('field.sex'), name: 'sex', value: p.sex, opts: options('sex'),
    onChange: (v) => { p.sex = v; ctx.touch(); nik.check(false); },
  });
  const birth = birthField(ctx, () => nik.check(false));
  const phone = phoneField(p, ctx.touch);
  nik.check(false);
  const guardian = ctx.registering && isChildPerson(ctx.state) && guardianBlock(ctx, true);
  const check = () => {
    const bd = checkDate(p.birth_date, { earliest: '1900-01-01' });
    const ok = [
      need(name, p.name?.trim()), need(sex, p.sex, t('v.choose_one')), need(birth, !bd, msg(bd)),
      nik.check(true), phone.check(),
    ].every(Boolean);
    return !guardianMissing(ctx, isChildPerson(ctx.state)) && ok;
  };
  return { name: t('person.step_identity'), body: [name, sex, birth, nik, phone, guardian], check };
}

function placeStep(ctx) {
  const p = ctx.state.person;
  const desa = desaPicker({
    value: p.desa_code, index: ctx.index, onChange: (code) => { p.desa_code = code; ctx.touch(); },
  });
  const address = field(t('field.address'),
    textInput(p, 'address', { maxLength: 255, multiline: true }));
  const status = choice(ctx, p, 'migration_status');
  const marital = choice(ctx, p, 'marital_status');
  const education = choice(ctx, p, 'education');
  const disability = toggles({
    legend: t('field.disability'), name: 'disability', value: p.disability ? 'ya' : 'tidak',
    opts: yesNo(), onChange: (v) => { p.disability = v === 'ya'; ctx.touch(); },
  });
  const dupBox = h('div', { 'aria-live': 'polite' });
  const check = async () => {
    const ok = [need(desa, p.desa_code), need(status, p.migration_status, t('v.choose_one'))];
    if (!ok.every(Boolean)) return false;
    if (!ctx.registering || ctx.state.notDuplicate === dupKey(p)) return true;
    const dups = await findDuplicates(p, ctx.session, ctx.exceptId);
    if (!dups.length) return true;
    dupBox.replaceChildren(duplicatesCard(ctx, dups));
    dupBox.scrollIntoView({ block: 'start' });
    return false;
  };
  return {
    name: t('person.step_place'),
    body: [desa, address, status, marital, education, disability, dupBox],
    check,
  };
}

function duplicatesCard(ctx, dups) {
  const { state, index } = ctx;
  const open = (d) => async () => {
    await ctx.store.clear();
    go(`/warga/${d.id}`);
  };
  const notSame = () => {
    state.notDuplicate = dupKey(state.person);
    ctx.touch();
    ctx.next();
  };
  return h('section', { class: 'card dups', role: 'alert' },
    h('h2', { text: t('dup.title') }),
    h('p', { text: t('dup.explain') }),
    h('ul', { class: 'items' }, dups.map(({ person: d, match }) => h('li', { class: 'item' },
      h('strong', { text: d.name }),
      h('span', { text: [d.sex && label('sex', d.sex), d.birth_date && formatDate(d.birth_date),
        desaName(index, d.desa_code)].filter(Boolean).join(' · ') }),
      h('span', { class: 'tag', text: t(`dup.match_${match}`) }),
      button(t('dup.open'), open(d), 'secondary')))),
    button(t('dup.not_same'), notSame, 'secondary wide', { id: 'not-duplicate' }));
}

function consentNotice(community) {
  const text = [
    ['consent.h_purpose', 'consent.p_purpose'],
    ['consent.h_data', 'consent.p_data'],
    ['consent.h_keep', 'consent.p_keep'],
    ['consent.h_rights', 'consent.p_rights'],
    ['consent.h_basis', community ? 'consent.p_basis_consent' : 'consent.p_basis_public'],
  ];
  const notice_ = h('section', { class: 'card consent', lang: lang() },
    text.map(([head, para]) => [h('h2', { text: t(head) }),
      h('p', { text: t(para, { years: Math.round((keepMonths / 12) * 10) / 10 }) })]));
  const speak = 'speechSynthesis' in window && button(`🔊 ${t('consent.read_aloud')}`, () => {
    speechSynthesis.cancel();
    const u = new SpeechSynthesisUtterance(notice_.textContent);
    u.lang = lang() === 'en' ? 'en-GB' : 'id-ID';
    speechSynthesis.speak(u);
  }, 'secondary wide');
  return [notice_, speak];
}

function consentStep(ctx) {
  const c = ctx.state.consent;
  const purposes = choice(ctx, c, 'purposes',
    { legend: 'field.purposes', opts: options('consent_purpose'), multiple: true });
  const method = choice(ctx, c, 'method',
    { legend: 'field.consent_method', opts: options('consent_method') });
  const childQ = toggles({
    legend: t('consent.is_child'), name: 'is_child', value: c.is_child, opts: yesNo(),
    onChange: (v) => { c.is_child = v; ctx.touch(); ctx.redraw(); },
  });
  const confirm = t(ctx.community ? 'consent.confirm_consent' : 'consent.confirm_public');
  const read = toggles({
    legend: t('consent.confirm_legend'), name: 'notice_read', multiple: true,
    value: c.notice_read ? ['ya'] : [], opts: [['ya', confirm]],
    onChange: (v) => { c.notice_read = v.includes('ya'); ctx.touch(); },
  });
  const check = () => {
    const ok = [
      need(purposes, c.purposes.length, t('v.choose_one')),
      need(method, c.method, t('v.choose_one')),
      need(read, c.notice_read, t('consent.must_confirm')),
    ].every(Boolean);
    return !guardianMissing(ctx, c.is_child === 'ya') && ok;
  };
  return {
    name: t('register.step_consent'),
    body: [consentNotice(ctx.community), purposes, method, childQ, guardianBlock(ctx, false), read],
    check,
  };
}

function guardianBlock(ctx, force) {
  const { state } = ctx;
  const c = state.consent;
  if (!force && c.is_child !== 'ya') return null;
  const name = field(t('field.guardian_name'),
    textInput(c, 'guardian_name', { maxLength: 120, autocomplete: 'off' }));
  const relation = choice(ctx, c, 'guardian_relation');
  if (state.guardianError) {
    need(name, c.guardian_name?.trim(), t('v.guardian_required'));
    need(relation, c.guardian_relation, t('v.choose_one'));
  }
  return [h('p', { class: 'notice warn', text: `★ ${t('consent.child_note')}` }), name, relation];
}

function destination(ctx) {
  const { plan } = ctx.state;
  const { usual, rest } = countryOptions();
  const other = plan.destination_country && !USUAL.includes(plan.destination_country);
  const dest = toggles({
    legend: t('field.destination_country'), name: 'destination',
    value: other ? 'other' : plan.destination_country,
    opts: [...usual, ['other', t('plan.other_country')]],
    onChange: (v) => {
      plan.destination_country = v === 'other' ? null : v;
      ctx.touch();
      ctx.redraw();
    },
  });
  const chose = ctx.box.querySelector('input[name=destination][value=other]:checked');
  if (!other && (plan.destination_country || !chose)) return [dest];
  const pick = h('select', {
    onchange: (e) => { plan.destination_country = e.target.value || null; ctx.touch(); },
  }, h('option', { value: '', text: t('ui.choose') }), rest.map(([code, n]) => h('option',
    { value: code, text: n, selected: code === plan.destination_country })));
  return [dest, field(t('plan.other_country'), pick)];
}

function planStep(ctx) {
  const { plan } = ctx.state;
  const agency = field(t('field.agency_name'), textInput(plan, 'agency_name', { maxLength: 200 }));
  const recruiter = toggles({
    legend: t('field.informal_recruiter'), name: 'informal_recruiter', opts: yesNo(),
    value: plan.informal_recruiter ? 'ya' : 'tidak',
    onChange: (v) => { plan.informal_recruiter = v === 'ya'; ctx.touch(); },
  });
  const feeInput = h('input', {
    type: 'text', inputmode: 'numeric', value: plan.fee_asked ?? '', autocomplete: 'off',
    oninput: (e) => {
      const digits = e.target.value.replace(/\D/g, '');
      plan.fee_asked = digits ? Math.min(+digits, 1e12) : null;
    },
  });
  const fee = field(t('field.fee_asked'), feeInput, { hint: t('plan.fee_hint') });
  const docs = choice(ctx, plan, 'documents',
    { legend: 'field.documents', opts: options('document'), multiple: true });
  return {
    name: t('register.step_plan'),
    body: [h('p', { class: 'hint', text: t('plan.optional') }), destination(ctx),
      choice(ctx, plan, 'sector'), choice(ctx, plan, 'scheme'), agency, recruiter, fee, docs],
  };
}

function validDay(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return `${iso.slice(0, 8)}${String(Math.min(d, last)).padStart(2, '0')}`;
}

function consentFields(c, personId, child) {
  const given = new Date();
  const [y, m, d] = todayWIB(given).split('-');
  const month = +m - 1 + keepMonths;
  const until = `${+y + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`;
  return {
    person_id: personId, purposes: c.purposes, notice_version: NOTICE_VERSION, method: c.method,
    guardian_name: child && c.guardian_name?.trim() ? c.guardian_name.trim() : null,
    guardian_relation: child && c.guardian_relation ? c.guardian_relation : null,
    given_at: given.toISOString(), withdrawn_at: null,
    // The 29th to 31st of a shorter month: its last day.
    keep_until: validDay(`${until}-${d}`),
  };
}

/** The plan's fields, or null when nothing of it was said. */
function planFields(plan, personId) {
  const given = plan.destination_country || plan.sector || plan.agency_name.trim()
    || plan.informal_recruiter || plan.fee_asked != null || plan.documents.length
    || plan.scheme !== 'tidak_diketahui';
  if (!given) return null;
  return {
    person_id: personId, destination_country: plan.destination_country, sector: plan.sector,
    scheme: plan.scheme, agency_name: plan.agency_name.trim(),
    informal_recruiter: plan.informal_recruiter, fee_asked: plan.fee_asked,
    documents: plan.documents,
  };
}

async function saveRegistration(ctx) {
  const { person: p, consent: c, plan } = ctx.state;
  const personId = newId();
  const fields = personFields(p);
  fields.nik ??= null;
  fields.lawful_basis = ctx.community ? 'persetujuan' : 'tugas_publik';
  fields.archived_at = null;
  await saveEdit('persons', personId, fields);
  await saveEdit('consents', newId(), consentFields(c, personId, isChildPerson(ctx.state)));
  const planned = planFields(plan, personId);
  if (planned) await saveEdit('migration_plans', newId(), planned);
  await ctx.store.clear();
  toast(t('register.saved', { name: fields.name }));
  go(`/warga/${personId}`);
}

function blankRegistration(user, community) {
  return {
    step: 1,
    consent: {
      purposes: community ? [] : ['pencatatan'], method: null, notice_read: false,
      is_child: 'tidak', guardian_name: '', guardian_relation: null,
    },
    person: {
      name: '', nik: '', sex: null, birth_date: '', phone: '', desa_code: user.desa_code || null,
      address: '', marital_status: null, education: null, disability: false,
      migration_status: null,
    },
    plan: {
      destination_country: null, sector: null, scheme: 'tidak_diketahui', agency_name: '',
      informal_recruiter: false, fee_asked: null, documents: [],
    },
  };
}

/** Wire a person form's wizard: ctx gets redraw and next; returns the screen's cleanup. */
function personWizard(ctx, steps, finish) {
  const wiz = wizard(ctx.box, {
    state: ctx.state, finish: () => finish(ctx), finishText: t('ui.save'),
    steps: steps.map((step) => () => step(ctx)),
  });
  Object.assign(ctx, { redraw: wiz.redraw, next: wiz.next });
  return () => {
    wiz.stop();
    ctx.store.flush();
  };
}

export async function register(main, { session }) {
  setTitle(t('register.title'));
  const community = session.user.role === 'community';
  const initial = blankRegistration(session.user, community);
  const index = await regionIndex();
  keepMonths = await retentionMonths();
  const form = await draftForm(main, 'person:new', initial);
  const ctx = { ...form, index, session, community, registering: true };
  return personWizard(ctx, [consentStep, identityStep, placeStep, planStep], saveRegistration);
}

/** The synced fields of a person from the form's state, normalised; `nik` only when one
 *  was typed (the masked NIK an edit shows, or an emptied field, leaves it out). */
function personFields(p, stored) {
  const nik = nikUnchanged(p.nik, stored) ? undefined : parseNik(p.nik).nik.number;
  const phone = p.phone?.trim() ? normalisePhone(p.phone).value : null;
  return {
    name: p.name.trim(), nik, sex: p.sex, birth_date: p.birth_date || null, phone,
    desa_code: p.desa_code, address: (p.address || '').trim(), marital_status: p.marital_status,
    education: p.education, disability: !!p.disability, migration_status: p.migration_status,
  };
}

async function saveCorrection(ctx) {
  const { record } = ctx;
  const changed = changedFields(personFields(ctx.state.person, record.nik), record);
  if (changed.nik === undefined) delete changed.nik;
  // Saving a refused person sends it again, corrected or not, as the same record.
  if (Object.keys(changed).length || record.refused) await saveEdit('persons', record.id, changed);
  await ctx.store.clear();
  toast(t('person.saved'));
  go(`/warga/${record.id}`);
}

/** Correct a person's data (two steps, no new consent). */
export async function edit(main, { params: [id], session }) {
  setTitle(t('person.edit_title'));
  const record = await getRecord('persons', id);
  if (!record) {
    main.append(notice(t('ui.not_found')));
    return;
  }
  const blank = (k) => (k === 'nik' || k === 'phone' ? '' : null);
  const person = Object.fromEntries(PERSON_FIELDS.map((k) => [k, record[k] ?? blank(k)]));
  const index = await regionIndex();
  const why = refusalNotice(record);
  if (why) main.append(why);
  const form = await draftForm(main, `person:${id}`, { step: 1, person });
  const ctx = { ...form, index, session, record, exceptId: id, registering: false };
  return personWizard(ctx, [identityStep, placeStep], saveCorrection);
}
