/** Kotak masuk: the LTSA desk's and a partner's referrals, from this phone's copy (offline
 *  too): overdue, urgent and child referrals first; filters, search and counts per status. */

import { t, label, options, todayWIB, formatTime } from '../i18n.js';
import { isChild } from '../validate.js';
import { h, setTitle, select, button, onData, createdMs } from '../ui.js';
import { regionIndex, reference } from '../refdata.js';
import { STATUSES, isOverdue } from '../referral-rules.js';
import { referralRows } from '../referral-store.js';
import { statusText, overdueTag } from '../components/referral.js';
import { urgencyTag, childBadge } from '../components/marks.js';

const PAGE = 30;
const URGENCY_RANK = { darurat: 0, segera: 1, biasa: 2 };

/** Every referral with what the list shows and sorts by. */
async function loadRows(role) {
  const [rows, index] = await Promise.all([referralRows(role), regionIndex()]);
  const today = todayWIB();
  return rows.map((row) => {
    const { r, person, events, status } = row;
    const desa = r.derived?.desa_code || person?.desa_code;
    return {
      ...row, desa, kec: index.get(desa)?.parent || '',
      sent: events.find((e) => e.kind === 'status' && e.status === 'terkirim'),
      child: Boolean(r.derived?.is_child || isChild(person?.birth_date)),
      overdue: isOverdue(r, status, today),
      created: createdMs(r) || 0,
    };
  });
}

/** Overdue first, then urgency, children, new ones; newest first within each. */
function inboxOrder(a, b) {
  return (b.overdue - a.overdue)
    || (URGENCY_RANK[a.r.urgency] ?? 2) - (URGENCY_RANK[b.r.urgency] ?? 2)
    || (b.child - a.child)
    || ((b.status === 'terkirim') - (a.status === 'terkirim'))
    || (b.created - a.created);
}

function matches(row, f) {
  const day = row.created ? todayWIB(new Date(row.created)) : '';
  return (!f.status || row.status === f.status)
    && (!f.service || row.r.services.includes(f.service))
    && (!f.urgency || row.r.urgency === f.urgency)
    && (!f.kec || row.kec === f.kec)
    && (!f.desa || row.desa === f.desa)
    && (!f.org || String(row.r.derived?.assigned_organisation_id ?? '') === f.org)
    && (!f.from || day >= f.from)
    && (!f.q || (row.person?.name || '').toLowerCase().includes(f.q.toLowerCase()));
}

function rowItem(row, index) {
  const { r, person } = row;
  const desa = index.get(row.desa)?.name || row.desa || '';
  const kec = index.get(row.kec)?.name || '';
  const sender = row.sent?.derived?.author_role;
  return h('li', null, h('a', { href: `#/meja/${r.id}`, class: 'item inbox-row' },
    h('strong', null, person?.name || t('referral.unknown_person'), ' ',
      childBadge(null, row.child)),
    h('span', { class: 'status', text: `${t('field.status')}: ${statusText(row.status)}` }),
    overdueTag(r, row.status), urgencyTag(r.urgency),
    h('span', { class: 'where', text: [desa, kec && t('desk.kec', { kec })].filter(Boolean)
      .join(', ') }),
    h('span', { class: 'meta', text: [row.created && formatTime(row.created, 'date'),
      sender && t('desk.from', { who: label('role', sender) })].filter(Boolean).join(' · ') }),
    h('span', { text: r.services.map((s) => label('service', s)).join(', ') })));
}

function countsBar(rows, f, redraw) {
  const n = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const row of rows) if (row.status in n) n[row.status] += 1;
  const chip = (code, text, count) => h('button', {
    type: 'button', class: f.status === code ? 'chip on' : 'chip', 'data-status': code || 'all',
    'aria-pressed': String(f.status === code), text: `${text} (${count})`,
    onclick: () => { f.status = code; redraw(); },
  });
  return h('div', { class: 'counts', id: 'inbox-counts' }, chip(null, t('desk.all'), rows.length),
    STATUSES.filter((s) => n[s]).map((s) => chip(s, label('referral_status', s), n[s])));
}

const named = (index, codes) => [...codes].filter(Boolean)
  .map((c) => [c, index.get(c)?.name || c]).sort((a, b) => a[1].localeCompare(b[1]));

/** The filters: each a labelled select (or date, or search) that redraws the list. */
function filterBox(rows, f, index, orgs, redraw) {
  const pick = (key, name, opts) => h('label', { class: 'field filter' },
    h('span', { class: 'label', text: name }),
    select(opts, f[key], (v) => { f[key] = v; if (key === 'kec') f.desa = null; redraw(); },
      t('desk.any')));
  const desas = rows.filter((row) => !f.kec || row.kec === f.kec).map((row) => row.desa);
  return h('details', { class: 'filters', open: f.open },
    h('summary', { text: t('desk.filters') }),
    pick('status', t('field.status'), options('referral_status')),
    pick('service', t('refer.services'), options('service')),
    pick('urgency', t('field.urgency'), options('urgency')),
    pick('kec', t('desk.kecamatan'), named(index, new Set(rows.map((row) => row.kec)))),
    pick('desa', t('desk.desa'), named(index, new Set(desas))),
    pick('org', t('desk.organisation'), orgs.map((o) => [String(o.id), o.name])),
    h('label', { class: 'field filter' }, h('span', { class: 'label', text: t('desk.since') }),
      h('input', { type: 'date', value: f.from || '',
        onchange: (e) => { f.from = e.target.value || null; redraw(); } })));
}

export async function list(main, { session }) {
  setTitle(t('desk.title'));
  const role = session.user.role;
  const f = { q: '', open: false };
  const search = h('input', { type: 'search', placeholder: t('desk.search'),
    'aria-label': t('desk.search'),
    oninput: () => { f.q = search.value.trim(); shown = PAGE; draw(); } });
  const top = h('div');
  const ul = h('ul', { class: 'items', id: 'inbox' });
  let shown = PAGE;
  let rows = [];
  const more = button(t('ui.more_items'), () => { shown += PAGE; draw(); }, 'secondary wide');
  const [index, orgs] = await Promise.all([regionIndex(), reference('organisations')]);
  function draw() {
    const hits = rows.filter((row) => matches(row, f)).sort(inboxOrder);
    // A redraw keeps the filters open or closed as the user left them.
    f.open = top.querySelector('details.filters')?.open ?? f.open;
    top.replaceChildren(countsBar(rows, f, draw), filterBox(rows, f, index, orgs, draw));
    ul.replaceChildren(...hits.slice(0, shown).map((row) => rowItem(row, index)));
    if (!hits.length) ul.append(h('li', { class: 'hint', text: t('desk.none') }));
    more.hidden = hits.length <= shown;
  }
  const load = async () => { rows = await loadRows(role); draw(); };
  await load();
  main.append(top, h('div', { class: 'field' }, search), ul, more);
  return onData(load);
}
