/** Checks ported from server/identity.py and server/schemas/records.py, for instant feedback.
 *  Each problem is a catalog key (with vars) so it reads in the user's language. */

import { todayWIB } from './i18n.js';

export const NIK_LENGTH = 16;
export const KABUPATEN_NIK_PREFIX = '3209';
export const ADULT_AGE = 18;
const MOBILE_DIGITS_AFTER_ZERO = [9, 12];
// Separators people type inside numbers: spaces, dots, dashes, brackets.
const SEPARATORS = /[\s.\-()]/g;

function problem(key, vars) {
  return { key, vars };
}

function validDate(y, m, d) {
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

const pad = (n) => String(n).padStart(2, '0');

/** {nik: {number, region, birthDate, sex, serial}} or {error: {key, vars}}. */
export function parseNik(raw, today = todayWIB()) {
  const number = String(raw).replace(SEPARATORS, '');
  if (!/^[0-9]+$/.test(number)) return { error: problem('v.nik_digits') };
  if (number.length !== NIK_LENGTH) {
    return { error: problem('v.nik_length', { n: NIK_LENGTH, have: number.length }) };
  }
  const parts = [number.slice(0, 2), number.slice(2, 4), number.slice(4, 6)];
  if (parts.includes('00')) return { error: problem('v.nik_region') };
  let day = +number.slice(6, 8);
  const month = +number.slice(8, 10);
  const year2 = +number.slice(10, 12);
  const sex = day > 40 ? 'P' : 'L';
  if (sex === 'P') day -= 40;
  // Two digits of the year: the latest century that is not in the future.
  let year = 2000 + year2;
  if (`${year}-${pad(month)}-${pad(day)}` > today) year -= 100;
  if (!validDate(year, month, day)) return { error: problem('v.nik_date') };
  const serial = number.slice(12);
  if (serial === '0000') return { error: problem('v.nik_serial') };
  return {
    nik: {
      number,
      region: parts.join('.'),
      birthDate: `${year}-${pad(month)}-${pad(day)}`,
      sex,
      serial,
    },
  };
}

// A NIK as the server shows it (server/domain/disclosure.py): the first and last four digits.
const MASKED_NIK = /^[0-9]{4}\*{8}[0-9]{4}$/;
const NIK_SHOWN = 4;

/** True for a NIK in the masked form the server sends ('3209********0001'). */
export const isMaskedNik = (value) => MASKED_NIK.test(String(value ?? '').trim());

/** A NIK shown on screen: masked the server's way (a NIK typed here and not yet sent too). */
export function maskNik(nik) {
  if (!nik || isMaskedNik(nik)) return nik || null;
  const hidden = Math.max(nik.length - 2 * NIK_SHOWN, 0);
  return nik.slice(0, NIK_SHOWN) + '*'.repeat(hidden) + nik.slice(NIK_SHOWN + hidden);
}

/** True if the NIK field leaves the stored NIK as it is: empty, or the masked NIK as it was
 *  shown. Only a newly typed 16-digit NIK is checked and sent. */
export function nikUnchanged(raw, stored) {
  const value = String(raw ?? '').trim();
  return !value || (isMaskedNik(value) && value === stored);
}

/** Disagreements between a valid NIK and the form: warnings, never refusals. */
export function nikWarnings(nik, sex, birthDate) {
  const out = [];
  if (sex && sex !== nik.sex)
    out.push(problem(nik.sex === 'P' ? 'v.nik_says_female' : 'v.nik_says_male'));
  if (birthDate) {
    const [y, m, d] = birthDate.split('-');
    const [ny, nm, nd] = nik.birthDate.split('-');
    if (d !== nd || m !== nm || y.slice(2) !== ny.slice(2))
      out.push(problem('v.nik_birth_differs'));
  }
  if (!nik.number.startsWith(KABUPATEN_NIK_PREFIX)) out.push(problem('v.nik_outside'));
  return out;
}

/** {value: '+628…'} or {error}; accepts 08…, 628… and +62 8…. */
export function normalisePhone(raw) {
  const number = String(raw).replace(SEPARATORS, '');
  let national;
  if (number.startsWith('+62')) national = number.slice(3);
  else if (number.startsWith('62')) national = number.slice(2);
  else if (number.startsWith('0')) national = number.slice(1);
  else return { error: problem('v.phone_prefix') };
  if (!/^[0-9]+$/.test(national)) return { error: problem('v.phone_digits') };
  if (!national.startsWith('8')) return { error: problem('v.phone_not_mobile') };
  const [low, high] = MOBILE_DIGITS_AFTER_ZERO;
  if (national.length < low || national.length > high) {
    return { error: problem('v.phone_length', { low: low + 1, high: high + 1 }) };
  }
  return { value: '+62' + national };
}

/** Whole years on `day` ('YYYY-MM-DD'), or null without a birth date. */
export function ageOn(birthDate, day = todayWIB()) {
  if (!birthDate) return null;
  const [by, bm, bd] = birthDate.split('-').map(Number);
  const [y, m, d] = day.split('-').map(Number);
  return y - by - (m < bm || (m === bm && d < bd) ? 1 : 0);
}

/** Under 18 today; null when the birth date is unknown. */
export function isChild(birthDate) {
  const age = ageOn(birthDate);
  return age == null ? null : age < ADULT_AGE;
}

/** A problem with a calendar date: required, not a date, in the future or before 1900. */
export function checkDate(value, { required = false, past = true, earliest = '' } = {}) {
  if (!value) return required ? problem('v.required') : null;
  const [y, m, d] = value.split('-').map(Number);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || !validDate(y, m, d)) return problem('v.date');
  if (past && value > todayWIB()) return problem('v.future');
  if (earliest && value < earliest) return problem('v.date');
  return null;
}

/** RT or RW: '' or 1–3 digits, not 0; stored zero-padded ("3" → "003"). */
export function normaliseRtRw(raw) {
  const value = String(raw || '').trim();
  if (value === '') return { value: '' };
  if (!/^\d{1,3}$/.test(value) || +value === 0) return { error: problem('v.rtrw') };
  return { value: value.padStart(3, '0') };
}

/** Participants and other counts: whole numbers 0…max. */
export function checkCount(value, max = 10000) {
  return Number.isInteger(value) && value >= 0 && value <= max ? null : problem('v.count', { max });
}
