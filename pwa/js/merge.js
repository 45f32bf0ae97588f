/** Merge rules: a faithful port of sync/merge.py; both pass the files in sync/vectors/. */

import { isValid, nodeOf } from './hlc.js';

const OPS = ['insert', 'upsert', 'delete'];
const FIELD_KINDS = ['lww'];

/** A mutation the merge rules refuse; `reason` is the same short code as in Python. */
export class MergeRefused extends Error {
  constructor(reason, detail = '') {
    super(detail ? `${reason}: ${detail}` : reason);
    this.reason = reason;
    this.detail = detail;
  }
}

// Python orders str by code point; JavaScript's < by UTF-16 unit. They differ only for
// characters above U+FFFF against U+E000..U+FFFF, but sort_keys must agree everywhere.
function byCodePoint(a, b) {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
}

const sortedKeys = (obj) => Object.keys(obj).sort(byCodePoint);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => (v === undefined ? null : structuredClone(v));
// Python's truthiness, for the `x or {}` idioms of merge.py ([] and {} are false there).
const truthy = (v) =>
  Array.isArray(v) ? v.length > 0 : isObject(v) ? Object.keys(v).length > 0 : Boolean(v);
// Tuples of strings and integers compared the way Python compares them (strings are ASCII).
function cmp(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return a.length - b.length;
}

/** merge.py write_order: a write whose base is at or above its own HLC sorts just after
 *  that base. */
export const writeOrder = (hlc, base) =>
  base != null && base >= hlc ? [base, 1, hlc] : [hlc, 0, hlc];

/** Canonical JSON (sorted keys, no spaces, ASCII with \uXXXX):
 *  json.dumps(sort_keys, ensure_ascii). */
export function canonical(value) {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    return `{${sortedKeys(value)
      .map((k) => `${canonical(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  // Python escapes everything outside printable ASCII (U+007F too), lowercase hex.
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** True if a and b are the same JSON value (1 and true differ). */
export const sameValue = (a, b) => canonical(a) === canonical(b);

/** The identity of a conflict entry, for storing each once. */
export const conflictKey = (e) =>
  [e.entity, e.id, e.field, e.losing_hlc, e.winning_hlc, e.reason].join('|');

/** True if record is a tombstone. */
export const isDeleted = (record) => record != null && record._deleted != null;

/** The record's id and fields, without bookkeeping. */
export function plain(record) {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !k.startsWith('_')));
}

/** The record's fields only: no id, no bookkeeping. */
export function plainFields(record) {
  const out = plain(record);
  delete out.id;
  return out;
}

/** The highest field clock of a record (an insert-only record's insert HLC), or null. */
export function latestClock(record) {
  let top = null;
  for (const c of Object.values(record._clocks)) if (top === null || c > top) top = c;
  return top;
}

/** An empty record with every bookkeeping key in place. */
export function newRecord(id) {
  return {
    id,
    _clocks: {},
    _authors: {},
    _bases: {},
    _deleted: null,
    _deleted_by: null,
    _deleted_base: null,
  };
}

/** Throws MergeRefused unless the mutation is well formed and allowed for its entity kind. */
export function checkMutation(m, kind) {
  if (!OPS.includes(m.op)) throw new MergeRefused('bad_op', String(m.op));
  if (typeof m.id !== 'string' || !m.id) throw new MergeRefused('bad_id', String(m.id));
  if (!isValid(m.hlc)) throw new MergeRefused('bad_hlc', String(m.hlc));
  if (m.node !== nodeOf(m.hlc)) throw new MergeRefused('node_mismatch', `${m.node} vs ${m.hlc}`);
  const fields = truthy(m.fields) ? m.fields : {};
  if (!isObject(fields)) throw new MergeRefused('bad_fields', 'fields must be an object');
  const base = m.base;
  if (
    base != null &&
    (!isObject(base) || !Object.values(base).every((v) => v === null || isValid(v)))
  ) {
    throw new MergeRefused('bad_base', JSON.stringify(base));
  }
  const allowed = kind.fields;
  for (const name of Object.keys(fields)) {
    if (!name || name === 'id' || name.startsWith('_'))
      throw new MergeRefused('reserved_field', name);
    if (allowed != null && !Object.hasOwn(allowed, name))
      throw new MergeRefused('unknown_field', name);
    if (allowed != null && !FIELD_KINDS.includes(allowed[name]))
      throw new Error(`unsupported field kind ${allowed[name]} for ${name}`);
  }
  if (kind.insert_only) {
    if (m.op !== 'insert')
      throw new MergeRefused('insert_only', `${m.op} on an insert-only entity`);
    if (!truthy(fields))
      throw new MergeRefused('empty_insert', 'an insert-only record needs fields');
  }
  if (m.op === 'delete') {
    if (kind.archive_only)
      throw new MergeRefused('archive_only', 'archive the record instead of deleting it');
    if (truthy(fields)) throw new MergeRefused('bad_fields', 'a delete carries no fields');
  }
}

// --- writes and deletes, as in merge.py's _Write and _Delete ----------------------------

const write = (value, hlc, author, base) => ({
  value: clone(value),
  hlc,
  author: author ?? null,
  base: base ?? null,
});
// The canonical JSON breaks ties between different writes that share an order.
const writeKey = (w) => [...writeOrder(w.hlc, w.base), canonical([w.value, w.author, w.base])];
const del = (hlc, author, base) => ({
  hlc,
  author: author ?? null,
  base: base ?? null,
  isDelete: true,
});
const deleteKey = (d) => [d.hlc, canonical([d.author, d.base])];

// True if the deleter had seen this write of the field (or a newer one).
function saw(d, field, writeHlc) {
  // Without a base the delete's own clock bounds what the deleter can have seen.
  if (d.base === null) return writeHlc <= d.hlc;
  if (nodeOf(writeHlc) === nodeOf(d.hlc) && writeHlc < d.hlc) return true;
  return writeHlc <= (d.base[field] ?? '');
}

function storedWrite(record, name) {
  const hlc = record._clocks[name];
  if (hlc == null) return null;
  return write(record[name], hlc, record._authors[name], record._bases[name]);
}

function put(record, name, w) {
  // A copy, so that the record shares no list or object with the mutation.
  record[name] = clone(w.value);
  record._clocks[name] = w.hlc;
  record._authors[name] = w.author;
  if (w.base === null) delete record._bases[name];
  else record._bases[name] = w.base;
}

function conflict(entity, id, field, winner, loser, reason) {
  return {
    entity,
    id,
    field,
    winning_value: winner.isDelete ? null : clone(winner.value),
    winning_hlc: winner.hlc,
    winning_author: winner.author,
    losing_value: clone(loser.value),
    losing_hlc: loser.hlc,
    losing_author: loser.author,
    reason,
  };
}

// Why the loser goes to the log, or null when it is no conflict.
function lwwReason(winner, loser) {
  if (sameValue(winner.value, loser.value)) return null;
  if (winner.hlc === loser.hlc) return 'hlc_collision';
  if (nodeOf(winner.hlc) === nodeOf(loser.hlc)) return null;
  if (winner.base === loser.hlc) return null;
  return 'concurrent_edit';
}

const currentDelete = (record) =>
  record._deleted == null ? null : del(record._deleted, record._deleted_by, record._deleted_base);

function deleteReason(d, name, w) {
  if (saw(d, name, w.hlc)) return null;
  return w.hlc > d.hlc ? 'edit_after_delete' : 'deleted';
}

function mergeWrite(entity, record, name, w) {
  const stored = storedWrite(record, name);
  if (stored !== null && cmp(writeKey(stored), writeKey(w)) === 0) return [];
  const out = [];
  if (stored === null || cmp(writeKey(w), writeKey(stored)) > 0) {
    put(record, name, w);
    const reason = stored && lwwReason(w, stored);
    if (reason) out.push(conflict(entity, record.id, name, w, stored, reason));
  } else {
    const reason = lwwReason(stored, w);
    if (reason) out.push(conflict(entity, record.id, name, stored, w, reason));
  }
  const d = currentDelete(record);
  const reason = d && deleteReason(d, name, w);
  if (reason) out.push(conflict(entity, record.id, name, d, w, reason));
  return out;
}

function mergeDelete(entity, record, d) {
  const current = currentDelete(record);
  // The stored delete already wins; the stored fields were checked against it.
  if (current !== null && cmp(deleteKey(current), deleteKey(d)) >= 0) return [];
  record._deleted = d.hlc;
  record._deleted_by = d.author;
  record._deleted_base = clone(d.base);
  const out = [];
  for (const name of sortedKeys(record._clocks)) {
    const w = storedWrite(record, name);
    const reason = deleteReason(d, name, w);
    if (reason) out.push(conflict(entity, record.id, name, d, w, reason));
  }
  return out;
}

function fillInsert(record, fields, hlc, author) {
  for (const name of sortedKeys(fields)) put(record, name, write(fields[name], hlc, author, null));
}

// A second insert of an insert-only record: the earliest insert wins whole.
function mergeInsertOnly(entity, record, fields, hlc, author) {
  const storedFields = plainFields(record);
  const storedHlc = latestClock(record);
  const storedAuthor = record._authors[Object.keys(record._clocks).sort(byCodePoint)[0]] ?? null;
  const storedKey = [storedHlc, canonical([storedFields, storedAuthor])];
  const incomingKey = [hlc, canonical([fields, author ?? null])];
  if (cmp(storedKey, incomingKey) === 0) return [record, []];
  let win;
  let lose;
  let out;
  if (cmp(incomingKey, storedKey) < 0) {
    win = [fields, hlc, author];
    lose = [storedFields, storedHlc, storedAuthor];
    out = newRecord(record.id);
    fillInsert(out, fields, hlc, author);
  } else {
    win = [storedFields, storedHlc, storedAuthor];
    lose = [fields, hlc, author];
    out = record;
  }
  const conflicts = [];
  for (const name of [...new Set([...Object.keys(win[0]), ...Object.keys(lose[0])])].sort(
    byCodePoint,
  )) {
    const winner = write(win[0][name], win[1], win[2], null);
    const loser = write(lose[0][name], lose[1], lose[2], null);
    if (!sameValue(winner.value, loser.value))
      conflicts.push(conflict(entity, record.id, name, winner, loser, 'duplicate_id'));
  }
  return [out, conflicts];
}

// The mutation's base without null entries; null if it sent no base at all.
function baseOf(m) {
  if (m.base == null) return null;
  return Object.fromEntries(Object.entries(m.base).filter(([, v]) => v !== null));
}

/** [newRecord, conflicts] after one mutation; the input record is not changed.
 *  Throws MergeRefused. */
export function applyMutation(record, m, kind) {
  checkMutation(m, kind);
  if (record != null && record.id !== m.id)
    throw new Error(`mutation for ${m.id} applied to ${record.id}`);
  const entity = m.entity ?? '';
  const out = record != null ? structuredClone(record) : newRecord(m.id);
  const fields = truthy(m.fields) ? m.fields : {};
  if (kind.insert_only) {
    if (record == null) {
      fillInsert(out, fields, m.hlc, m.author);
      return [out, []];
    }
    return mergeInsertOnly(entity, out, fields, m.hlc, m.author ?? null);
  }
  const base = baseOf(m);
  if (m.op === 'delete') return [out, mergeDelete(entity, out, del(m.hlc, m.author, base))];
  const conflicts = [];
  for (const name of sortedKeys(fields)) {
    conflicts.push(
      ...mergeWrite(entity, out, name, write(fields[name], m.hlc, m.author, (base || {})[name])),
    );
  }
  return [out, conflicts];
}

/** [record, conflicts]: two copies of one record joined (e.g. a pulled one into the local one). */
export function mergeRecords(local, remote, kind, entity = '') {
  if (remote == null) return [local == null ? null : structuredClone(local), []];
  if (local == null) return [structuredClone(remote), []];
  if (local.id !== remote.id) throw new Error(`cannot merge ${local.id} with ${remote.id}`);
  const out = structuredClone(local);
  if (kind.insert_only) {
    const hlc = latestClock(remote);
    if (hlc === null) return [out, []];
    const author = Object.values(remote._authors)[0] ?? null;
    if (latestClock(out) === null) {
      fillInsert(out, plainFields(remote), hlc, author);
      return [out, []];
    }
    return mergeInsertOnly(entity, out, plainFields(remote), hlc, author);
  }
  const conflicts = [];
  for (const name of sortedKeys(remote._clocks))
    conflicts.push(...mergeWrite(entity, out, name, storedWrite(remote, name)));
  if (remote._deleted != null)
    conflicts.push(
      ...mergeDelete(entity, out, del(remote._deleted, remote._deleted_by, remote._deleted_base)),
    );
  return [out, conflicts];
}
