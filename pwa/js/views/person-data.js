/** Data warga (hak akses): everything Jangkau holds about one person, from every
 *  organisation, as the server gives it (GET /api/persons/{id}/data, the LTSA desk and
 *  admins), to read with the person or print for them (UU PDP Pasal 32). Online only; the
 *  server writes each opening to the audit log. */

import { request } from '../api.js';
import { t, formatTime } from '../i18n.js';
import { h, setTitle, button, actions } from '../ui.js';
import { failureNotice, offline } from '../online.js';

// Ids and bookkeeping the person has no use for; labels stand in for codes.
const SKIP = new Set(['id', 'person_id', 'referral_id', 'hlc', 'events', 'record_id',
  'kecamatan_code', 'desa_code', 'community_group_id', 'organisation_id', 'seen_status']);
const MOMENT = /(_at|^at)$/;

function fieldName(name) {
  const key = `field.${name}`;
  const text = t(key);
  return text === key ? name.replace(/_/g, ' ') : text;
}

function shown(record, name, value) {
  if (record[`${name}_label`] != null) return String(record[`${name}_label`]);
  if (Array.isArray(value)) return value.join(', ');
  if (value && typeof value === 'object') return value.name || value.id || '';
  if (typeof value === 'boolean') return value ? '✓' : '✗';
  if (typeof value === 'string' && MOMENT.test(name)) return formatTime(value, 'datetime');
  return String(value);
}

/** A record's fields as a list of name and value, empty ones left out. */
function facts(record) {
  const rows = [];
  for (const [name, value] of Object.entries(record)) {
    if (SKIP.has(name) || name.endsWith('_label') || value == null || value === ''
      || (Array.isArray(value) && !value.length)) continue;
    rows.push(h('dt', { text: fieldName(name) }), h('dd', { text: shown(record, name, value) }));
  }
  return h('dl', { class: 'facts' }, rows);
}

function part(id, title, items, draw) {
  return h('section', { class: 'card', id },
    h('h2', { text: t(title) }),
    items.length ? items.map(draw) : h('p', { class: 'hint', text: t('data.none') }));
}

function referral(r) {
  return h('div', { class: 'data-referral' }, facts(r),
    h('h3', { text: t('data.h_events') }),
    h('ol', null, r.events.map((e) => h('li', null, facts(e)))));
}

function auditList(entries) {
  return h('ol', { class: 'audit' }, entries.map((a) => h('li', { text: [
    formatTime(a.at, 'datetime'), a.user ? `${a.user.name} (${a.user.role})` : 'server',
    a.action, a.entity, (a.fields || []).map(fieldName).join(', '),
  ].filter(Boolean).join(' · ') })));
}

function page(data) {
  const p = data.person;
  return [
    h('p', { class: 'hint', text: t('data.intro', {
      time: formatTime(data.generated_at, 'datetime'), months: data.retention_months }) }),
    p.processing_stopped_at && h('p', { class: 'notice warn', text: t('data.stopped',
      { time: formatTime(p.processing_stopped_at, 'datetime') }) }),
    p.erased_at && h('p', { class: 'notice warn', text: t('data.erased',
      { time: formatTime(p.erased_at, 'datetime') }) }),
    h('section', { class: 'card', id: 'data-person' },
      h('h2', { text: t('data.h_person') }), facts(p)),
    part('data-consents', 'data.h_consents', data.consents, facts),
    part('data-plans', 'data.h_plans', data.migration_plans, facts),
    part('data-referrals', 'data.h_referrals', data.referrals, referral),
    part('data-conflicts', 'data.h_conflicts', data.conflicts, (c) => facts({
      field: fieldName(c.field || ''), value: c.winning_value, old: c.losing_value,
      resolved_at: c.resolved_at })),
    part('data-duplicates', 'data.h_duplicates', data.possible_duplicates, (d) => facts({
      match: d.match, status: d.status, created_at: d.created_at })),
    h('section', { class: 'card', id: 'data-audit' }, h('h2', { text: t('data.h_audit') }),
      data.audit.length ? auditList(data.audit) : h('p', { class: 'hint', text: t('data.none') })),
  ];
}

export async function render(main, { params: [id], session }) {
  setTitle(t('data.title'));
  const box = h('div', { 'aria-live': 'polite' });
  main.append(box);
  if (offline(box)) return;
  let data;
  try {
    data = await request('GET', `/api/persons/${id}/data`, null, session.token);
  } catch (error) {
    box.replaceChildren(failureNotice(error));
    return;
  }
  box.replaceChildren(...page(data).filter(Boolean),
    actions(button(t('data.print'), () => window.print(), 'primary', { id: 'data-print' })));
}
