/** Catalogs of user-visible words (pwa/i18n/*.json); Bahasa Indonesia unless English was chosen. */

const LANG_KEY = 'jangkau.lang';
export const LANGS = ['id', 'en'];
let catalog = {};
let current = 'id';

/** The language in use: 'id' or 'en'. */
export function lang() {
  return current;
}

/** Load the catalog of a language (default: the one remembered on this phone). */
export async function loadLang(wanted) {
  const saved = localStorage.getItem(LANG_KEY);
  const code = LANGS.includes(wanted) ? wanted : LANGS.includes(saved) ? saved : 'id';
  const res = await fetch(`/i18n/${code}.json`);
  catalog = await res.json();
  current = code;
  localStorage.setItem(LANG_KEY, code);
  document.documentElement.lang = code;
}

/** The text for a key, with {name} placeholders filled from vars. */
export function t(key, vars) {
  const text = catalog[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? vars[k] : m)) : text;
}

/** [code, label] pairs of an enumeration, in catalog order. */
export function options(group) {
  return Object.entries(catalog.enum?.[group] || {});
}

/** A country's name from its ISO code ("Taiwan", not "TW"), in the current language, from
 *  the phone's own list of region names; the code itself where the phone has none. */
export function countryName(code) {
  if (!code) return '';
  try {
    return new Intl.DisplayNames([current], { type: 'region' }).of(code) || code;
  } catch {
    return code;
  }
}

/** The label of one code of an enumeration; the code itself when unknown. */
export function label(group, code) {
  return catalog.enum?.[group]?.[code] ?? code ?? '';
}

/** A server message {id, en} (or ApiError) in the current language. */
export function serverText(msg) {
  if (!msg) return '';
  if ('message_id' in msg) return current === 'en' ? msg.message_en : msg.message_id;
  return current === 'en' ? msg.en : msg.id;
}

const WIB = 'Asia/Jakarta';
const fmtCache = {};
function fmt(kind) {
  const key = kind + current;
  if (!fmtCache[key]) {
    const opts = {
      time: { hour: '2-digit', minute: '2-digit' },
      date: { day: 'numeric', month: 'short', year: 'numeric' },
      datetime: {
        day: 'numeric',
        month: 'short',
        year: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
      },
    }[kind];
    fmtCache[key] = new Intl.DateTimeFormat(current === 'en' ? 'en-GB' : 'id-ID', {
      timeZone: WIB,
      ...opts,
    });
  }
  return fmtCache[key];
}

/** A moment (Date, ms or ISO string) as local WIB time, date or date and time. */
export function formatTime(when, kind = 'time') {
  if (when == null || when === '') return '';
  const d = when instanceof Date ? when : new Date(when);
  return Number.isNaN(d.getTime())
    ? ''
    : fmt(kind).format(d) + (kind === 'time' ? '' : kind === 'datetime' ? ' WIB' : '');
}

/** A calendar date 'YYYY-MM-DD' written for people. */
export function formatDate(iso) {
  if (!iso) return '';
  return fmt('date').format(new Date(iso + 'T12:00:00+07:00'));
}

/** Today's date in Kabupaten Cirebon (WIB) as 'YYYY-MM-DD'. */
export function todayWIB(now = new Date()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: WIB }).format(now);
}
