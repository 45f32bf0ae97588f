/** Beranda: this week's work, what waits to be sent, and the big buttons. */

import { listRecords, pendingCount, listConflicts } from '../db.js';
import { t, todayWIB } from '../i18n.js';
import { h, setTitle, createdMs, onData } from '../ui.js';

const CLOSED = new Set(['selesai', 'tidak_hadir', 'dibatalkan']);
const VILLAGE_ROLES = new Set(['officer', 'community', 'admin']);

/** Monday of this week (WIB) as 'YYYY-MM-DD' and as a moment in ms. */
function weekStart() {
  const today = todayWIB();
  const [y, m, d] = today.split('-').map(Number);
  const dow = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
  const monday = new Date(Date.UTC(y, m - 1, d - ((dow + 6) % 7)));
  const iso = monday.toISOString().slice(0, 10);
  return { iso, ms: Date.parse(`${iso}T00:00:00+07:00`) };
}

const link = (href, cls, text) => h('a', { href, class: cls, text });

function stat(n, text, id) {
  return h('div', { class: 'stat', id }, h('strong', { text: String(n) }), h('span', { text }));
}

export async function render(main, { session }) {
  setTitle(t('home.title'));
  const box = h('div');
  main.append(box);
  const draw = async () => {
    const week = weekStart();
    const [visits, persons, referrals, pending, conflicts] = await Promise.all([
      listRecords('visits', (v) => v.visit_date >= week.iso),
      listRecords('persons', (p) => (createdMs(p) ?? 0) >= week.ms),
      listRecords('referrals', (r) => !CLOSED.has(r.derived?.status)),
      pendingCount(),
      listConflicts({ open: true }),
    ]);
    const user = session.user;
    const village = VILLAGE_ROLES.has(user.role);
    box.replaceChildren(
      h('p', { class: 'lead', text: t('home.hello', { name: user.full_name }) }),
      h('section', { class: 'card', 'aria-labelledby': 'week-h' },
        h('h2', { id: 'week-h', text: t('home.this_week') }),
        h('div', { class: 'stats' },
          stat(visits.length, t('home.visits'), 'st-visits'),
          stat(persons.length, t('home.persons'), 'st-persons'),
          stat(referrals.length, t('home.referrals_open'), 'st-referrals'))),
      h('p', {
        class: pending ? 'notice warn' : 'notice ok', id: 'home-pending',
        text: pending ? `⬆ ${t('sync.pending', { n: pending })}` : `✓ ${t('sync.all_sent')}`,
      }),
      h('nav', { class: 'biglinks' },
        village && link('#/kunjungan/baru', 'btn primary', `+ ${t('nav.new_visit')}`),
        village && link('#/warga/baru', 'btn primary', `+ ${t('nav.register')}`),
        link('#/rujukan', 'btn', t('nav.referrals')),
        link('#/bertabrakan', conflicts.length ? 'btn attention' : 'btn',
          `${t('nav.conflicts')} (${conflicts.length})`),
        village && link('#/warga', 'btn', t('nav.persons')),
        village && link('#/kunjungan', 'btn', t('nav.visits'))),
    );
  };
  await draw();
  return onData(draw, ['jangkau:data', 'jangkau:status']);
}
