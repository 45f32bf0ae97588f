/** Perubahan bertabrakan: for each open conflict, the value kept and the value that lost,
 *  who wrote each and when; one tap "Pakai nilai ini" brings the lost value back. */

import { listConflicts, getRecord } from '../db.js';
import { resolveConflict } from '../sync-client.js';
import { t, label, formatTime, formatDate, serverText, countryName } from '../i18n.js';
import { regionIndex, desaName } from '../refdata.js';
import { h, setTitle, button, toast, notice, onData, hlcMs } from '../ui.js';

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

function side(kind, value, author, hlc) {
  const head = kind === 'kept' ? `✓ ${t('conflict.kept')}` : `✖ ${t('conflict.lost')}`;
  const name = author?.name || t('conflict.unknown_author');
  const when = formatTime(hlcMs(hlc), 'datetime');
  return h('div', { class: `side ${kind}` },
    h('p', { class: 'sidehead', text: head }),
    h('p', { class: 'value', text: value }),
    h('p', { class: 'hint', text: t('conflict.by', { name, when }) }));
}

export async function render(main) {
  setTitle(t('conflicts.title'));
  const box = h('div', { 'aria-live': 'polite' });
  main.append(h('p', { class: 'hint', text: t('conflicts.explain') }), box);
  const draw = async () => {
    const [conflicts, index] = await Promise.all([listConflicts({ open: true }), regionIndex()]);
    if (!conflicts.length) {
      box.replaceChildren(h('p', { class: 'notice ok', text: `✓ ${t('conflicts.none')}` }));
      return;
    }
    const cards = await Promise.all(conflicts.map(async (c) => {
      const fieldName = t(`field.${c.field}`);
      const err = h('div');
      const use = button(t('conflict.use_this'), async () => {
        use.disabled = true;
        try {
          await resolveConflict(c.id, c.losing_value);
          toast(t('conflict.resolved'));
          await draw();
        } catch (e) {
          use.disabled = false;
          err.replaceChildren(notice(e.status === 0
            ? t('conflict.need_online') : serverText(e) || t('conflict.failed')));
        }
      }, 'primary wide', { 'aria-label': `${t('conflict.use_this')}: ${fieldName}` });
      return h('section', { class: 'card conflict', 'data-conflict': c.id },
        h('p', { class: 'hint', text: await recordName(c, index) }),
        h('h2', { text: fieldName }),
        h('p', { class: 'hint', text: label('conflict_reason', c.reason) }),
        side('kept', show(c.field, c.winning_value, index), c.winning_author, c.winning_hlc),
        side('lost', show(c.field, c.losing_value, index), c.losing_author, c.losing_hlc),
        use, err);
    }));
    box.replaceChildren(...cards);
  };
  await draw();
  return onData(draw);
}
