/** Marks on a record, the same on every list and detail screen: sent / waiting / refused (in
 *  words and a symbol, never colour alone), why the server refused an edit, a referral's
 *  status, urgency, "Anak". Each returns an element (or null when there is nothing to say). */

import { t, label, serverText } from '../i18n.js';
import { isChild } from '../validate.js';
import { h } from '../ui.js';

/** Why the server refused an edit, in one line: invalid data is said by its fields. */
export function refusalReason(r) {
  if (r.reason === 'invalid') return label('refusal_reason', 'invalid');
  return serverText(r.message) || label('refusal_reason', r.reason);
}

const said = (m) => (typeof m === 'string' ? m : serverText(m) || JSON.stringify(m));

/** The field messages of a refusal, one list item each. */
export function fieldErrors(errors) {
  // A refused batch names the mutation's "fields"; a refused mutation names the fields.
  const fields = errors?.fields && !Array.isArray(errors.fields) ? errors.fields : errors;
  if (!fields || typeof fields !== 'object') return [];
  return Object.entries(fields).map(([name, msgs]) => h('li', {
    text: `${t(`field.${name}`)}: ${[].concat(msgs).map(said).join(' ')}`,
  }));
}

/** On a record's screen: why the server refused its edits, and what to do (null if none). */
export function refusalNotice(record) {
  if (!record.refused) return null;
  return h('div', { class: 'notice err', role: 'alert' },
    record.refused.map((r) => [
      h('p', { text: `✖ ${t('sync.refused_mark')}: ${refusalReason(r)}` }),
      h('ul', { class: 'errs' }, fieldErrors(r.errors)),
    ]),
    h('p', { text: t('sync.refused_fix') }));
}

/** A refused/pending/sent marker in words and a symbol, never colour alone. */
export function sentMark(record) {
  if (record.refused) {
    const why = refusalReason(record.refused[0]);
    return h('span', { class: 'tag bad', text: `✖ ${t('sync.refused_mark')} · ${why}` });
  }
  return record.pending
    ? h('span', { class: 'tag wait', text: `⬆ ${t('sync.waiting')}` })
    : h('span', { class: 'tag ok', text: `✓ ${t('sync.sent')}` });
}

/** The status in words: "Draf" while only on this phone, then the status the server derived. */
export function referralStatus(r) {
  const status = r.derived?.status;
  return status ? label('referral_status', status) || r.derived.status_label : t('referral.draft');
}

/** The urgency with its symbol. */
export function urgencyTag(code) {
  const text = `${t(`urgency_mark.${code}`)} ${label('urgency', code)}`;
  return h('span', { class: `tag urg-${code}`, text });
}

/** "Anak" with a symbol, for a person under 18 (or a record the server marked a child's). */
export function childBadge(birthDate, child = false) {
  if (!child && !isChild(birthDate)) return null;
  return h('span', { class: 'badge child', text: `★ ${t('person.child')}` });
}
