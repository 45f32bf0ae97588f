/** The compact wire form of a pulled record (protocol 2): a port of sync/wire.py's expand and
 *  apply_partial; both pass sync/vectors/wire.json (docs/sync-protocol.md §10). */

import { newRecord } from './merge.js';

const DELETION = ['_deleted', '_deleted_by', '_deleted_base'];
const clone = (v) => (v === undefined ? null : structuredClone(v));
const isField = (k) => !k.startsWith('_') && k !== 'id';

/** The merge record of a compact one: every field written with the shared `_clock` and
 *  `_author` unless `_clocks` / `_authors` name its own (a null clock: no clock). */
export function expand(wire, id) {
  const out = newRecord(id);
  const ownClocks = wire._clocks || {};
  const ownAuthors = wire._authors || {};
  const clock = wire._clock ?? null;
  const author = wire._author ?? null;
  for (const [name, value] of Object.entries(wire)) {
    if (!isField(name)) continue;
    out[name] = clone(value);
    const stamp = Object.hasOwn(ownClocks, name) ? ownClocks[name] : clock;
    if (stamp != null) out._clocks[name] = stamp;
  }
  // Clocks of fields the record does not carry.
  for (const [name, stamp] of Object.entries(ownClocks)) {
    if (!Object.hasOwn(out, name) && stamp != null) out._clocks[name] = stamp;
  }
  for (const name of Object.keys(out._clocks)) {
    out._authors[name] = clone(Object.hasOwn(ownAuthors, name) ? ownAuthors[name] : author);
  }
  out._bases = clone(wire._bases || {});
  for (const key of DELETION) out[key] = clone(wire[key] ?? null);
  return out;
}

/** A partial change laid over the phone's copy: the fields it carries replace the copy's
 *  (value, clock, author, base), every other field stays; the deletion bookkeeping is the
 *  change's. */
export function applyPartial(local, wire, id) {
  const incoming = expand(wire, id);
  const out = local ? structuredClone(local) : newRecord(id);
  for (const key of ['_clocks', '_authors', '_bases']) out[key] = { ...(out[key] || {}) };
  const present = Object.keys(wire).filter(isField);
  for (const name of Object.keys(wire._clocks || {})) {
    if (!present.includes(name)) present.push(name);
  }
  for (const name of present) {
    if (Object.hasOwn(incoming, name)) out[name] = incoming[name];
    for (const key of ['_clocks', '_authors', '_bases']) {
      if (Object.hasOwn(incoming[key], name)) out[key][name] = incoming[key][name];
      else delete out[key][name];
    }
  }
  for (const key of DELETION) out[key] = incoming[key];
  return out;
}
