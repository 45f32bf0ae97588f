/** Warga: the list (search by name) and one person's page with "Rujuk ke LTSA"; a person
 *  who may have been registered twice is marked "Mungkin data ganda", to merge or dismiss. */

import { listRecords, getRecord, getSession } from '../db.js';
import { request } from '../api.js';
import { syncNow } from '../sync-client.js';
import { t, label, formatDate, formatTime, serverText, countryName } from '../i18n.js';
import { ageOn, maskNik } from '../validate.js';
import { regionIndex, desaName } from '../refdata.js';
import { h, setTitle, actions, notice, onData, button, toast, go } from '../ui.js';
import { pagedList, itemLink } from '../components/list.js';
import { card, fact, facts } from '../components/detail.js';
import { mayChangePerson, withdrawConsent, requestErasure, archivedNotice, deskRights }
  from '../components/rights.js';
import { sentMark, refusalNotice, referralStatus, childBadge } from '../components/marks.js';

/** Open possible duplicates (pulled from the server), by person id: [{pair, otherId}]. */
async function openDuplicates() {
  const byPerson = new Map();
  for (const pair of await listRecords('possible_duplicates', (d) => d.status === 'open')) {
    const ends = [[pair.person_id, pair.other_person_id], [pair.other_person_id, pair.person_id]];
    for (const [mine, otherId] of ends) {
      byPerson.set(mine, [...(byPerson.get(mine) || []), { pair, otherId }]);
    }
  }
  return byPerson;
}

function duplicateBadge(entries) {
  if (!entries?.length) return null;
  return h('span', { class: 'badge duplicate', text: `⚠ ${t('duplicate.mark')}` });
}

const age = (p) => p.birth_date && t('person.age', { n: ageOn(p.birth_date) });

export async function list(main, { session }) {
  setTitle(t('persons.title'));
  const index = await regionIndex();
  const search = h('input', {
    type: 'search', autocomplete: 'off', placeholder: t('persons.search_ph'),
    'aria-label': t('persons.search_ph'),
  });
  let duplicates = new Map();
  const persons = pagedList({
    load: async () => {
      // A refused archiving leaves the person listed, marked, until it is fixed or let go.
      const listed = listRecords('persons', (p) => !p.archived_at || p.refused);
      const [all, open] = await Promise.all([listed, openDuplicates()]);
      duplicates = open;
      return all;
    },
    filter: (p) => p.name.toLowerCase().includes(search.value.trim().toLowerCase()),
    empty: t('persons.none'),
    item: (p) => itemLink(`#/warga/${p.id}`,
      h('strong', null, p.name, ' ', childBadge(p.birth_date),
        duplicateBadge(duplicates.get(p.id))),
      h('span', { text: [label('sex', p.sex), age(p), desaName(index, p.desa_code)]
        .filter(Boolean).join(' · ') }),
      h('span', { text: label('migration_status', p.migration_status) }),
      sentMark(p)),
  });
  search.addEventListener('input', () => persons.redraw());
  await persons.reload();
  const add = h('a', {
    href: '#/warga/baru', class: 'btn primary', text: `+ ${t('nav.register')}`,
  });
  // The desk and partners do not register persons (the server refuses their writes).
  const registers = !['ltsa', 'partner'].includes(session.user.role);
  main.append(h('div', { class: 'field' }, search), ...persons.el, registers && actions(add));
  return onData(() => persons.reload());
}

/** Merge (keep this person) or dismiss one possible duplicate: online only, asked first. */
async function resolveDuplicate(pair, action, body) {
  const session = await getSession();
  const path = `/api/possible-duplicates/${encodeURIComponent(pair.id)}/${action}`;
  await request('POST', path, body, session.token);
  await syncNow();
}

function duplicateCard(person, { pair, otherId }, other, redraw) {
  const err = h('div', { 'aria-live': 'polite' });
  const choice = h('div');
  const failed = (e) => err.replaceChildren(notice(e.status === 0
    ? t('duplicate.need_online') : serverText(e) || t('duplicate.failed')));
  const act = async (action, body, done) => {
    err.replaceChildren();
    if (!navigator.onLine) {
      failed({ status: 0 });
      return;
    }
    try {
      await resolveDuplicate(pair, action, body);
      toast(done);
      await redraw();
    } catch (e) {
      failed(e);
    }
  };
  const otherName = other ? other.name : t('duplicate.unknown');
  const ask = () => choice.replaceChildren(
    h('p', {
      class: 'notice warn',
      text: t('duplicate.merge_explain', { keep: person.name, other: otherName }),
    }),
    h('div', { class: 'row2' },
      button(t('duplicate.merge_yes'),
        () => act('merge', { keep: person.id }, t('duplicate.merged')), 'danger'),
      button(t('duplicate.cancel'), () => choice.replaceChildren(), 'secondary')));
  return h('section', { class: 'card duplicate', 'data-duplicate': pair.id },
    h('h2', { text: `⚠ ${t('duplicate.mark')}` }),
    h('p', null, t('duplicate.with'), ' ', h('a', { href: `#/warga/${otherId}`, text: otherName })),
    h('p', { class: 'hint', text: t(`duplicate.why_${pair.match}`) }),
    h('div', { class: 'row2' },
      button(t('duplicate.merge'), ask, 'primary'),
      button(t('duplicate.dismiss'),
        () => act('dismiss', null, t('duplicate.dismissed')), 'secondary')),
    choice, err);
}

// Roles that write documents with a NIK may see it in full (server/domain/disclosure.py).
const REVEALS_NIK = ['officer', 'ltsa', 'admin'];

/** The full NIK, asked of the server each time (which logs it) and shown in place; never
 *  stored on the phone. Needs a signal. */
async function revealNik(p, shown, say) {
  say('');
  if (!navigator.onLine) {
    say(t('person.nik_need_online'));
    return false;
  }
  try {
    const session = await getSession();
    const path = `/api/persons/${encodeURIComponent(p.id)}/nik`;
    const answer = await request('POST', path, null, session.token);
    shown.textContent = answer.nik;
    return true;
  } catch (e) {
    say(e.status === 0 ? t('person.nik_need_online') : serverText(e) || t('person.nik_failed'));
    return false;
  }
}

function nikFact(p, user) {
  if (!p.nik) return null;
  const shown = h('span', { class: 'nik', text: maskNik(p.nik) });
  const why = h('span', { class: 'hint', 'aria-live': 'polite' });
  const say = (text) => { why.textContent = text; };
  // A NIK typed here and not yet sent is not the server's to show.
  const may = REVEALS_NIK.includes(user.role) && !p.pending;
  const reveal = may && button(t('person.nik_reveal'), async () => {
    if (await revealNik(p, shown, say)) reveal.remove();
  }, 'secondary');
  return fact(t('person.nik'), h('span', null, shown, ' ', reveal, ' ', why));
}

/** Phone or address: the value, or why it is not on this phone. */
const contact = (p, name) => (p.derived?.withheld?.includes(name)
  ? h('span', { class: 'hint', text: t('person.withheld_contact') }) : p[name]);

function personCard(p, index, alike, user) {
  const known = (group, code) => code && label(group, code);
  return h('section', { class: 'card' },
    h('p', { class: 'big' }, p.name, ' ', childBadge(p.birth_date), duplicateBadge(alike)),
    sentMark(p),
    refusalNotice(p),
    facts(
      fact(t('field.sex'), label('sex', p.sex)),
      fact(t('field.birth_date'), p.birth_date && `${formatDate(p.birth_date)} (${age(p)})`),
      nikFact(p, user),
      fact(t('person.phone'), contact(p, 'phone')),
      fact(t('field.desa'), desaName(index, p.desa_code)),
      fact(t('field.address'), contact(p, 'address')),
      fact(t('field.migration_status'), label('migration_status', p.migration_status)),
      fact(t('field.marital_status'), known('marital_status', p.marital_status)),
      fact(t('field.education'), known('education', p.education)),
      fact(t('field.disability'), p.disability ? t('ui.yes') : t('ui.no')),
      fact(t('field.lawful_basis'), label('lawful_basis', p.lawful_basis))));
}

function consentCard(c, may) {
  const guardian = c.guardian_name
    && `${c.guardian_name} (${label('guardian_relation', c.guardian_relation)})`;
  return card(t('person.consent'),
    refusalNotice(c),
    facts(
      fact(t('field.purposes'), c.purposes.map((x) => label('consent_purpose', x)).join(', ')),
      fact(t('field.consent_method'), label('consent_method', c.method)),
      fact(t('person.given_at'), formatTime(c.given_at, 'datetime')),
      fact(t('field.guardian_name'), guardian),
      fact(t('person.keep_until'), formatDate(c.keep_until)),
      c.withdrawn_at && fact(t('person.withdrawn'), formatTime(c.withdrawn_at, 'datetime'))),
    may && withdrawConsent(c));
}

function planCard(m) {
  const fee = m.fee_asked != null && `Rp ${m.fee_asked.toLocaleString('id-ID')}`;
  return card(t('register.step_plan'),
    refusalNotice(m),
    facts(
      fact(t('field.destination_country'), countryName(m.destination_country)),
      fact(t('field.sector'), m.sector && label('sector', m.sector)),
      fact(t('field.scheme'), label('scheme', m.scheme)),
      fact(t('field.agency_name'), m.agency_name),
      fact(t('field.informal_recruiter'), m.informal_recruiter ? t('ui.yes') : t('ui.no')),
      fact(t('field.fee_asked'), fee),
      fact(t('field.documents'), m.documents?.map((d) => label('document', d)).join(', '))));
}

function referralsCard(referrals) {
  if (!referrals.length) return null;
  return card(t('nav.referrals'),
    h('ul', { class: 'items' }, referrals.map((r) => h('li', null, itemLink(`#/rujukan/${r.id}`,
      h('strong', { text: referralStatus(r) }),
      h('span', { text: r.services.map((s) => label('service', s)).join(', ') }))))));
}

async function mergedNotice(p) {
  const mergedInto = p.derived?.merged_into_id;
  if (!mergedInto) return null;
  const kept = await getRecord('persons', mergedInto);
  return h('p', { class: 'notice warn' }, t('duplicate.merged_into'), ' ',
    h('a', { href: `#/warga/${mergedInto}`, text: kept ? kept.name : t('duplicate.unknown') }));
}

async function drawPerson(box, id, session) {
  const [p, index] = await Promise.all([getRecord('persons', id), regionIndex()]);
  if (!p) {
    setTitle(t('persons.title'));
    box.replaceChildren(notice(t('ui.not_found')));
    return;
  }
  setTitle(p.name);
  const mine = (r) => r.person_id === id;
  const [consents, plans, referrals, duplicates] = await Promise.all([
    listRecords('consents', mine), listRecords('migration_plans', mine),
    listRecords('referrals', mine), openDuplicates(),
  ]);
  const alike = p.archived_at ? [] : duplicates.get(id) || [];
  const others = await Promise.all(alike.map((d) => getRecord('persons', d.otherId)));
  const may = mayChangePerson(p, session.user);
  const redraw = () => drawPerson(box, id, session);
  box.replaceChildren(...[
    await mergedNotice(p),
    archivedNotice(p),
    alike.map((d, i) => duplicateCard(p, d, others[i], redraw)),
    personCard(p, index, alike, session.user),
    consents.map((c) => consentCard(c, may)),
    plans.slice(0, 1).map(planCard),
    referralsCard(referrals),
    may && session.user.role !== 'admin' && requestErasure(p, consents),
    // Admins serve the person's rights online, as the LTSA desk does.
    deskRights(p, session, () => { go('/warga'); syncNow().catch(() => null); }),
    // An archived person is no longer changed or referred (the server refuses both).
    may && !p.archived_at && actions(
      h('a', { href: `#/warga/${id}/ubah`, class: 'btn secondary', text: t('person.edit') }),
      h('a', { href: `#/rujuk/${id}`, class: 'btn primary', text: t('refer.action') })),
  ].flat().filter(Boolean));
}

export async function detail(main, { params: [id], session }) {
  const box = h('div');
  main.append(box);
  const draw = () => drawPerson(box, id, session);
  await draw();
  return onData(draw);
}
