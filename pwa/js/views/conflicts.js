/** Perubahan bertabrakan: for each open conflict, the value kept and the value that lost,
 *  who wrote each and when; one tap "Pakai nilai ini" brings the lost value back. */

import { listConflicts, getRecord } from '../db.js';
import { resolveConflict } from '../sync-client.js';
import { t, label, formatTime, formatDate, serverText, countryName } from '../i18n.js';
import { regionIndex, desaName } from '../refdata.js';
import { h, setTitle, button, toast, notice, onData, hlcMs } from '../ui.js';
import { nodeOf } from '../hlc.js';

// Which enumeration labels a field's codes.
const ENUM_OF = {
  visit_type: 'visit_type', topics: 'topic', sex: 'sex', marital_status: 'marital_status',
  education: 'education', migration_status: 'migration_status', lawful_basis: 'lawful_basis',
  purposes: 'consent_purpose', method: 'consent_method', sector: 'sector', scheme: 'scheme',
  documents: 'document', services: 'service', case_category: 'case_category', urgency: 'urgency',
  guardian_relation: 'guardian_relation', status: 'referral_status',
};

function show(fieldName, value, index) {
  const empty = value == null || value === '' || (Array.isArray(value) && !value.length);
  if (empty) return t('conflict.empty');
  if (typeof value === 'boolean') return value ? t('ui.yes') : t('ui.no');
  if (fieldName === 'desa_code') return desaName(index, value);
  if (fieldName === 'destination_country') return countryName(value);
  if (fieldName.endsWith('_date') || fieldName === 'keep_until') return formatDate(value);
  const group = ENUM_OF[fieldName];
  const said = (v) => (group ? label(group, v) : String(v));
  return Array.isArray(value) ? value.map(said).join(', ') : said(value);
}

async function recordName(c, index) {
  const r = await getRecord(c.entity, c.record_id);
  if (!r) return t(`entity.${c.entity}`);
  if (c.entity === 'visits') {
    const visit = [label('visit_type', r.visit_type), formatDate(r.visit_date),
      desaName(index, r.desa_code)];
    return `${t('entity.visits')}: ${visit.join(', ')}`;
  }
  if (c.entity === 'persons') return `${t('entity.persons')}: ${r.name}`;
  const person = r.person_id && await getRecord('persons', r.person_id);
  return `${t(`entity.${c.entity}`)}${person ? `: ${person.name}` : ''}`;
}

// Which phone wrote a value: the HLC's node is the phone's (the server's own writes, e.g. a
// value chosen here while online, carry the server's node).
function where(hlc, session) {
  const node = nodeOf(hlc);
  if (node === session.node) return t('conflict.on_this_phone');
  if (node === 'server') return t('conflict.on_server');
  return t('conflict.on_other_phone');
}

function side(kind, c, value, session, use) {
  const head = kind === 'kept' ? `✓ ${t('conflict.kept')}` : `✖ ${t('conflict.lost')}`;
  const [author, hlc] = kind === 'kept' ? [c.winning_author, c.winning_hlc]
    : [c.losing_author, c.losing_hlc];
  const name = author?.name || t('conflict.unknown_author');
  const when = formatTime(hlcMs(hlc), 'datetime');
  return h('div', { class: `side ${kind}` },
    h('p', { class: 'sidehead', text: head }),
    h('p', { class: 'value', text: value }),
    h('p', { class: 'hint', text: t('conflict.by_on',
      { name, where: where(hlc, session), when }) }),
    use);
}

/** One conflict: both values, who wrote each on which phone, "Pakai nilai ini" under each
 *  (keeping the value in use settles the conflict as well as taking the other). */
function conflictCard(c, { title, index, session, draw }) {
  const fieldName = t(`field.${c.field}`);
  const err = h('div');
  const choose = (kind, value) => {
    const use = button(t('conflict.use_this'), async () => {
      use.disabled = true;
      try {
        await resolveConflict(c.id, value);
        toast(t('conflict.resolved'));
        await draw();
      } catch (e) {
        use.disabled = false;
        err.replaceChildren(notice(e.status === 0
          ? t('conflict.need_online') : serverText(e) || t('conflict.failed')));
      }
    }, kind === 'lost' ? 'primary wide' : 'secondary wide', {
      'aria-label': `${t('conflict.use_this')}: ${fieldName}, ${show(c.field, value, index)}`,
      'data-use': kind,
    });
    return use;
  };
  return h('section', { class: 'card conflict', 'data-conflict': c.id },
    h('p', { class: 'hint', text: title }),
    h('h2', { text: fieldName }),
    h('p', { class: 'hint', text: label('conflict_reason', c.reason) }),
    side('kept', c, show(c.field, c.winning_value, index), session,
      choose('kept', c.winning_value)),
    side('lost', c, show(c.field, c.losing_value, index), session,
      choose('lost', c.losing_value)),
    err);
}

export async function render(main, { session }) {
  setTitle(t('conflicts.title'));
  const box = h('div', { 'aria-live': 'polite' });
  main.append(h('p', { class: 'hint', text: t('conflicts.explain') }), box);
  const draw = async () => {
    const [conflicts, index] = await Promise.all([listConflicts({ open: true }), regionIndex()]);
    if (!conflicts.length) {
      box.replaceChildren(h('p', { class: 'notice ok', text: `✓ ${t('conflicts.none')}` }));
      return;
    }
    const cards = await Promise.all(conflicts.map(async (c) => conflictCard(c,
      { title: await recordName(c, index), index, session, draw })));
    box.replaceChildren(...cards);
  };
  await draw();
  return onData(draw);
}
