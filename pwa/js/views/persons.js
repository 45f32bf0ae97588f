/** Warga: the list (search by name) and one person's page with "Rujuk ke LTSA"; a person
 *  who may have been registered twice is marked "Mungkin data ganda", to merge or dismiss. */

import { listRecords, getRecord, getSession } from '../db.js';
import { request } from '../api.js';
import { syncNow } from '../sync-client.js';
import { t, label, formatDate, formatTime, serverText } from '../i18n.js';
import { isChild, ageOn } from '../validate.js';
import { regionIndex, desaName } from '../refdata.js';
import { h, setTitle, actions, notice, onData, button, toast } from '../ui.js';
import { sentMark, refusalNotice } from './visits.js';
import { referralStatus } from './referrals.js';

const PAGE = 30;

/** "Anak" with a symbol, for a person under 18. */
export function childBadge(birthDate) {
  return isChild(birthDate) ? h('span', { class: 'badge child', text: `★ ${t('person.child')}` }) : null;
}

/** Open possible duplicates (pulled from the server), by person id: [{pair, otherId}]. */
async function openDuplicates() {
  const byPerson = new Map();
  for (const pair of await listRecords('possible_duplicates', (d) => d.status === 'open')) {
    for (const [mine, otherId] of [[pair.person_id, pair.other_person_id], [pair.other_person_id, pair.person_id]]) {
      byPerson.set(mine, [...(byPerson.get(mine) || []), { pair, otherId }]);
    }
  }
  return byPerson;
}

function duplicateBadge(entries) {
  return entries?.length ? h('span', { class: 'badge duplicate', text: `⚠ ${t('duplicate.mark')}` }) : null;
}

export async function list(main, { session }) {
  setTitle(t('persons.title'));
  const index = await regionIndex();
  const search = h('input', { type: 'search', autocomplete: 'off', placeholder: t('persons.search_ph'), 'aria-label': t('persons.search_ph') });
  const ul = h('ul', { class: 'items' });
  let all = [];
  let duplicates = new Map();
  let shown = PAGE;
  const more = button(t('ui.more_items'), () => { shown += PAGE; draw(); }, 'secondary wide');
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const hits = q ? all.filter((p) => p.name.toLowerCase().includes(q)) : all;
    ul.replaceChildren(...hits.slice(0, shown).map((p) => h('li', null, h('a', { href: `#/warga/${p.id}`, class: 'item' },
      h('strong', null, p.name, ' ', childBadge(p.birth_date), duplicateBadge(duplicates.get(p.id))),
      h('span', { text: [label('sex', p.sex), p.birth_date && t('person.age', { n: ageOn(p.birth_date) }), desaName(index, p.desa_code)].filter(Boolean).join(' · ') }),
      h('span', { text: label('migration_status', p.migration_status) }),
      sentMark(p)))));
    if (!hits.length) ul.append(h('li', { class: 'hint', text: t('persons.none') }));
    more.hidden = hits.length <= shown;
  };
  const load = async () => {
    // A refused archiving leaves the person listed, marked, until it is fixed or let go.
    [all, duplicates] = await Promise.all([listRecords('persons', (p) => !p.archived_at || p.refused), openDuplicates()]);
    draw();
  };
  search.addEventListener('input', () => { shown = PAGE; draw(); });
  await load();
  main.append(h('div', { class: 'field' }, search), ul, more,
    // The desk and partners do not register persons (the server refuses their writes).
    !['ltsa', 'partner'].includes(session.user.role)
      && actions(h('a', { href: '#/warga/baru', class: 'btn primary', text: `+ ${t('nav.register')}` })));
  return onData(load);
}

function row(name, value) {
  return value == null || value === '' ? null : h('div', { class: 'kv' }, h('dt', { text: name }), h('dd', null, value));
}

/** Merge (keep this person) or dismiss one possible duplicate: online only, asked first. */
async function resolveDuplicate(pair, action, body) {
  const session = await getSession();
  await request('POST', `/api/possible-duplicates/${encodeURIComponent(pair.id)}/${action}`, body, session.token);
  await syncNow();
}

function duplicateCard(person, { pair, otherId }, other, redraw) {
  const err = h('div', { 'aria-live': 'polite' });
  const choice = h('div');
  const failed = (e) => err.replaceChildren(notice(e.status === 0 ? t('duplicate.need_online') : serverText(e) || t('duplicate.failed')));
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
    h('p', { class: 'notice warn', text: t('duplicate.merge_explain', { keep: person.name, other: otherName }) }),
    h('div', { class: 'row2' },
      button(t('duplicate.merge_yes'), () => act('merge', { keep: person.id }, t('duplicate.merged')), 'danger'),
      button(t('duplicate.cancel'), () => choice.replaceChildren(), 'secondary')));
  return h('section', { class: 'card duplicate', 'data-duplicate': pair.id },
    h('h2', { text: `⚠ ${t('duplicate.mark')}` }),
    h('p', null, t('duplicate.with'), ' ', h('a', { href: `#/warga/${otherId}`, text: otherName })),
    h('p', { class: 'hint', text: t(`duplicate.why_${pair.match}`) }),
    h('div', { class: 'row2' },
      button(t('duplicate.merge'), ask, 'primary'),
      button(t('duplicate.dismiss'), () => act('dismiss', null, t('duplicate.dismissed')), 'secondary')),
    choice, err);
}

export async function detail(main, { params: [id], session }) {
  const box = h('div');
  main.append(box);
  const draw = async () => {
    const [p, index] = await Promise.all([getRecord('persons', id), regionIndex()]);
    if (!p) {
      setTitle(t('persons.title'));
      box.replaceChildren(notice(t('ui.not_found')));
      return;
    }
    setTitle(p.name);
    const [consents, plans, referrals, duplicates] = await Promise.all([
      listRecords('consents', (c) => c.person_id === id),
      listRecords('migration_plans', (m) => m.person_id === id),
      listRecords('referrals', (r) => r.person_id === id),
      openDuplicates(),
    ]);
    const alike = p.archived_at ? [] : duplicates.get(id) || [];
    const others = await Promise.all(alike.map((d) => getRecord('persons', d.otherId)));
    const mergedInto = p.derived?.merged_into_id;
    const kept = mergedInto && await getRecord('persons', mergedInto);
    const nik = p.nik ? `${p.nik.slice(0, 6)}••••••${p.nik.slice(12)}` : null;
    const village = ['officer', 'community', 'admin'].includes(session.user.role);
    box.replaceChildren(...[
      mergedInto && h('p', { class: 'notice warn' }, t('duplicate.merged_into'), ' ',
        h('a', { href: `#/warga/${mergedInto}`, text: kept ? kept.name : t('duplicate.unknown') })),
      alike.map((d, i) => duplicateCard(p, d, others[i], draw)),
      h('section', { class: 'card' },
        h('p', { class: 'big' }, p.name, ' ', childBadge(p.birth_date), duplicateBadge(alike)),
        sentMark(p),
        refusalNotice(p),
        h('dl', null,
          row(t('field.sex'), label('sex', p.sex)),
          row(t('field.birth_date'), p.birth_date && `${formatDate(p.birth_date)} (${t('person.age', { n: ageOn(p.birth_date) })})`),
          row(t('person.nik'), nik),
          row(t('person.phone'), p.phone),
          row(t('field.desa'), desaName(index, p.desa_code)),
          row(t('field.address'), p.address),
          row(t('field.migration_status'), label('migration_status', p.migration_status)),
          row(t('field.marital_status'), p.marital_status && label('marital_status', p.marital_status)),
          row(t('field.education'), p.education && label('education', p.education)),
          row(t('field.disability'), p.disability ? t('ui.yes') : t('ui.no')),
          row(t('field.lawful_basis'), label('lawful_basis', p.lawful_basis)))),
      consents.map((c) => h('section', { class: 'card' },
        h('h2', { text: t('person.consent') }),
        refusalNotice(c),
        h('dl', null,
          row(t('field.purposes'), c.purposes.map((x) => label('consent_purpose', x)).join(', ')),
          row(t('field.consent_method'), label('consent_method', c.method)),
          row(t('person.given_at'), formatTime(c.given_at, 'datetime')),
          row(t('field.guardian_name'), c.guardian_name && `${c.guardian_name} (${label('guardian_relation', c.guardian_relation)})`),
          row(t('person.keep_until'), formatDate(c.keep_until)),
          c.withdrawn_at && row(t('person.withdrawn'), formatTime(c.withdrawn_at, 'datetime'))))),
      plans.slice(0, 1).map((m) => h('section', { class: 'card' },
        h('h2', { text: t('register.step_plan') }),
        refusalNotice(m),
        h('dl', null,
          row(t('field.destination_country'), m.destination_country),
          row(t('field.sector'), m.sector && label('sector', m.sector)),
          row(t('field.scheme'), label('scheme', m.scheme)),
          row(t('field.agency_name'), m.agency_name),
          row(t('field.informal_recruiter'), m.informal_recruiter ? t('ui.yes') : t('ui.no')),
          row(t('field.fee_asked'), m.fee_asked != null && `Rp ${m.fee_asked.toLocaleString('id-ID')}`),
          row(t('field.documents'), m.documents?.map((d) => label('document', d)).join(', '))))),
      referrals.length ? h('section', { class: 'card' },
        h('h2', { text: t('nav.referrals') }),
        h('ul', { class: 'items' }, referrals.map((r) => h('li', null, h('a', { href: `#/rujukan/${r.id}`, class: 'item' },
          h('strong', { text: referralStatus(r) }),
          h('span', { text: r.services.map((s) => label('service', s)).join(', ') })))))) : null,
      village && actions(
        h('a', { href: `#/warga/${id}/ubah`, class: 'btn secondary', text: t('person.edit') }),
        h('a', { href: `#/rujuk/${id}`, class: 'btn primary', text: t('refer.action') })),
    ].flat().filter(Boolean));
  };
  await draw();
  return onData(draw);
}
