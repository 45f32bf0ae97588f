/** Laporan: the report's tables for a period, per kecamatan or desa, each with its chart
 *  (inline SVG, pwa/js/chart.js) above its table, and CSV / XLSX exports. Online only;
 *  for the LTSA desk and admins (the kabupaten) and village officials (their own desa). */

import { request } from '../api.js';
import { t, lang, todayWIB } from '../i18n.js';
import { h, setTitle, button, notice, field, select, toggles } from '../ui.js';
import { regionIndex } from '../refdata.js';
import { chartSvg } from '../chart.js';
import { downloadFile } from '../download.js';
import { REPORT_ROLES } from '../ops.js';
import { failureNotice, offline } from '../online.js';

const KABUPATEN_ROLES = new Set(['ltsa', 'admin']);

/** 'YYYY-MM' of the month `back` months before the month of 'YYYY-MM'. */
export function monthsBefore(month, back) {
  const [y, m] = month.split('-').map(Number);
  const n = y * 12 + (m - 1) - back;
  return `${Math.floor(n / 12)}-${String((n % 12) + 1).padStart(2, '0')}`;
}

function query(state, extra = {}) {
  const q = new URLSearchParams({ from: state.from, to: state.to, by: state.by });
  if (state.area) q.set('area', state.area);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

const text = (labels) => (labels ? labels[lang()] ?? labels.id ?? '' : '');

function cell(value, column) {
  if (value === null || value === undefined || value === '') return '–';
  if (column.kind === 'hours' && typeof value === 'number') return value.toFixed(1);
  return String(value);
}

function tableEl(table) {
  const cols = table.columns;
  const totals = table.totals && h('tfoot', null, h('tr', null, cols.map((c, i) => h('th', {
    text: i === 0 ? t('report.total') : c.key in table.totals ? cell(table.totals[c.key], c) : '',
  }))));
  return h('div', { class: 'report-grid', style: 'overflow-x:auto' },
    h('table', { class: 'report', 'data-table': table.key },
      h('thead', null, h('tr', null,
        cols.map((c) => h('th', { scope: 'col', text: text(c.label) })))),
      h('tbody', null, table.rows.map((row) => h('tr', null,
        cols.map((c) => h('td', { 'data-key': c.key, text: cell(row[c.key], c) }))))),
      totals));
}

function exportButtons(state, session, key, msg) {
  const save = (format) => async () => {
    msg.replaceChildren();
    const q = query(state, key ? { format, table: key } : { format });
    try {
      await downloadFile(`/api/reports/export?${q}`, session.token,
        `jangkau-laporan-${key || 'semua'}.${format}`);
    } catch (error) {
      msg.replaceChildren(failureNotice(error));
    }
  };
  const id = key || 'all';
  return h('div', { class: 'actions-inline' },
    key && button(t('report.csv'), save('csv'), 'secondary', { id: `csv-${id}` }),
    button(key ? t('report.xlsx') : t('report.xlsx_all'), save('xlsx'), 'secondary',
      { id: `xlsx-${id}` }));
}

function tableSection(table, state, session, width) {
  const figure = h('figure', { class: 'chart', 'data-table': table.key, style: 'margin:0' });
  // chart.js escapes every text it draws: the markup holds no data as markup.
  figure.innerHTML = chartSvg(table.chart, { lang: lang(), title: table.title, width });
  const msg = h('div', { 'aria-live': 'polite' });
  return h('section', { class: 'card report-table', id: `report-${table.key}` },
    h('h2', { text: text(table.title) }),
    table.note && h('p', { class: 'hint', text: text(table.note) }),
    figure, tableEl(table), exportButtons(state, session, table.key, msg), msg);
}

async function drawReport(box, state, session) {
  if (offline(box)) return;
  box.replaceChildren(h('p', { class: 'hint', text: t('report.loading') }));
  let report;
  try {
    report = await request('GET', `/api/reports?${query(state)}`, null, session.token);
  } catch (error) {
    box.replaceChildren(failureNotice(error));
    return;
  }
  const width = Math.max(280, Math.min(640, box.clientWidth - 30 || 320));
  const msg = h('div', { 'aria-live': 'polite' });
  box.replaceChildren(
    h('p', { class: 'hint', id: 'report-period',
      text: t('report.period', { from: report.period.from, to: report.period.to }) }),
    h('p', { class: 'hint', text: t('report.small_cells') }),
    exportButtons(state, session, null, msg), msg,
    ...report.tables.map((table) => tableSection(table, state, session, width)));
}

async function areaPicker(state) {
  const index = await regionIndex();
  const kecamatan = [...index.values()].filter((r) => r.level === 'kecamatan')
    .sort((a, b) => a.name.localeCompare(b.name)).map((r) => [r.code, r.name]);
  return field(t('report.area'), select(kecamatan, state.area, (v) => { state.area = v; },
    t('report.area_all')));
}

async function form(state, session, onShow) {
  const month = (key) => h('input', { type: 'month', value: state[key], required: true,
    oninput: (e) => { state[key] = e.target.value; } });
  const kabupaten = KABUPATEN_ROLES.has(session.user.role);
  return h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); onShow(); } },
    field(t('report.from'), month('from')),
    field(t('report.to'), month('to')),
    kabupaten && toggles({ legend: t('report.by'), name: 'by', value: state.by,
      opts: [['kecamatan', t('report.by_kecamatan')], ['desa', t('report.by_desa')]],
      onChange: (v) => { state.by = v; } }),
    kabupaten && await areaPicker(state),
    !kabupaten && h('p', { class: 'hint', text: t('report.own_desa',
      { desa: session.user.desa_name || session.user.desa_code || '' }) }),
    h('button', { type: 'submit', class: 'primary', id: 'show-report', text: t('report.show') }));
}

export async function render(main, { session }) {
  setTitle(t('report.title'));
  if (!REPORT_ROLES.has(session.user.role)) {
    main.append(notice(t('report.not_for_role'), 'warn'));
    return null;
  }
  const to = todayWIB().slice(0, 7);
  const state = { from: monthsBefore(to, 11), to, by: 'kecamatan', area: null };
  if (!KABUPATEN_ROLES.has(session.user.role)) state.by = 'desa';
  const box = h('div', { id: 'report', 'aria-live': 'polite' });
  const show = () => drawReport(box, state, session);
  main.append(h('p', { class: 'hint', text: t('ops.online_only') }),
    await form(state, session, show), box);
  await show();
  return null;
}
