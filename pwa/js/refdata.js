/** Reference lists kept on the phone for offline use: regions, community groups, organisations. */

import { request } from './api.js';
import { getMeta, setMeta, getSession } from './db.js';
import { h, field } from './ui.js';
import { t } from './i18n.js';

const SOURCES = {
  regions: '/api/regions',
  groups: '/api/community-groups',
  organisations: '/api/organisations',
  // Not a list: what the consent notice states (how long records are kept).
  privacy: '/api/privacy',
};
// The server's default, until its own value is on the phone.
const RETENTION_MONTHS = 60;

/** Fetch every reference list into meta; a list that fails keeps its cached copy. */
export async function refreshReference(token, only = Object.keys(SOURCES)) {
  await Promise.all(
    only.map(async (name) => {
      try {
        const answer = await request('GET', SOURCES[name], null, token);
        const items = answer.items ?? answer;
        const slim =
          name === 'regions'
            ? items.map((r) => ({
                code: r.code,
                name: r.name,
                level: r.level,
                parent: r.parent_code,
              }))
            : items;
        await setMeta(`ref:${name}`, slim);
        cache[name] = slim;
      } catch {
        /* offline: keep what is cached */
      }
    }),
  );
}

const cache = {};
/** A reference list from this phone (fetched once when missing and online). */
export async function reference(name) {
  if (cache[name]) return cache[name];
  let items = await getMeta(`ref:${name}`);
  if (!items && navigator.onLine) {
    const session = await getSession();
    if (session) await refreshReference(session.token, [name]);
    items = cache[name];
  }
  return (cache[name] = items || []);
}

/** How many months records are kept, as the server is set (the consent notice says it). */
export async function retentionMonths() {
  const privacy = await reference('privacy');
  return privacy?.retention_months || RETENTION_MONTHS;
}

let byCode;
/** Region code → {code, name, level, parent}. */
export async function regionIndex() {
  const regions = await reference('regions');
  if (!byCode || byCode.size !== regions.length) byCode = new Map(regions.map((r) => [r.code, r]));
  return byCode;
}

/** "Waled Desa, Kec. Waled" for a desa code. */
export function desaName(index, code) {
  const desa = index.get(code);
  if (!desa) return code || '';
  const kec = index.get(desa.parent);
  return kec ? t('region.desa_in', { desa: desa.name, kec: kec.name }) : desa.name;
}

const fold = (s) => s.toLowerCase().replace(/\s+/g, ' ');

/** The kecamatan → desa picker: shows the chosen desa; search filters desa and kecamatan as one
 *  types. */
export function desaPicker({ value, onChange, index }) {
  const shown = h('p', { class: 'picked', text: desaName(index, value) || t('region.none') });
  const search = h('input', {
    type: 'search',
    autocomplete: 'off',
    placeholder: t('region.search_ph'),
  });
  const list = h('div', { class: 'picklist' });
  const desas = [...index.values()].filter((r) => r.level === 'desa' || r.level === 'kelurahan');
  const render = () => {
    const q = fold(search.value.trim());
    list.replaceChildren();
    if (!q) return;
    const hits = desas.filter(
      (d) => fold(d.name).includes(q) || fold(index.get(d.parent)?.name || '').includes(q),
    );
    for (const d of hits.slice(0, 30)) {
      list.append(
        h('button', {
          type: 'button',
          class: 'pick',
          text: desaName(index, d.code),
          onclick: () => {
            shown.textContent = desaName(index, d.code);
            search.value = '';
            list.replaceChildren();
            onChange(d.code);
          },
        }),
      );
    }
    if (!hits.length) list.append(h('p', { class: 'hint', text: t('region.no_match') }));
  };
  search.addEventListener('input', render);
  const wrap = field(t('field.desa'), search, { hint: t('region.search_hint') });
  wrap.querySelector('label').after(shown);
  wrap.append(list);
  return wrap;
}
