/** Pieces of a record's page, shared by the detail screens (person, referral, and the desk's
 *  case page to come): card(...) a section, facts(...) a list of labelled values, fact(name,
 *  value) one of them (nothing when the value is empty). */

import { h } from '../ui.js';

/** One labelled value; null (left out) when the value is empty. */
export function fact(name, value) {
  if (value == null || value === '' || value === false) return null;
  return h('div', { class: 'kv' }, h('dt', { text: name }), h('dd', null, value));
}

/** Labelled values, as a description list. */
export function facts(...rows) {
  return h('dl', null, ...rows);
}

/** A section of a record's page; title optional. */
export function card(title, ...kids) {
  return h('section', { class: 'card' }, title && h('h2', { text: title }), ...kids);
}
