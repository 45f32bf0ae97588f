/** Beranda: this week's work, what waits to be sent, and the big buttons. */

import { listRecords, pendingCount, listConflicts } from '../db.js';
import { t, todayWIB } from '../i18n.js';
import { h, setTitle, createdMs, onData } from '../ui.js';
import { changedReferrals } from '../referral-seen.js';
import { deskCounts } from '../referral-store.js';
import { installHint } from '../components/install-hint.js';

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

/** Referrals the desk or a partner acted on since the official last opened them. */
function changedCard(changed, persons) {
  if (!changed.length) return null;
  const names = new Map(persons.map((p) => [p.id, p.name]));
  return h('section', { class: 'card', id: 'home-changed' },
    h('h2', { text: t('home.changed', { n: changed.length }) }),
    h('ul', { class: 'items' }, changed.slice(0, 10).map((r) => h('li', null,
      h('a', { href: `#/rujukan/${r.id}`, class: 'item' },
        h('strong', { text: names.get(r.person_id) || t('referral.unknown_person') }),
        h('span', { text: r.derived?.status_label || '' }))))));
}

/** The desk's and a partner's work: new, overdue, appointments today, open. */
function deskCard(n) {
  return h('section', { class: 'card', id: 'home-desk' },
    h('h2', { text: t('desk.title') }),
    h('a', { href: '#/meja', class: 'stats' },
      stat(n.fresh, t('desk.home_new'), 'st-new'),
      stat(n.overdue, t('desk.overdue'), 'st-overdue'),
      stat(n.today, t('desk.home_today'), 'st-today'),
      stat(n.open, t('home.referrals_open'), 'st-open')));
}

function stat(n, text, id) {
  return h('div', { class: 'stat', id }, h('strong', { text: String(n) }), h('span', { text }));
}

export async function render(main, { session }) {
  setTitle(t('home.title'));
  const box = h('div');
  main.append(box);
  // Made once: a redraw moves it, and a dialog it opened is not lost.
  const hint = installHint();
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
    const changed = village ? await changedReferrals() : [];
    const allPersons = changed.length ? await listRecords('persons') : [];
    const desk = !village && deskCard(await deskCounts(user.role));
    box.replaceChildren(
      h('p', { class: 'lead', text: t('home.hello', { name: user.full_name }) }),
      hint.el,
      h('section', { class: 'card', 'aria-labelledby': 'week-h' },
        h('h2', { id: 'week-h', text: t('home.this_week') }),
        h('div', { class: 'stats' },
          stat(visits.length, t('home.visits'), 'st-visits'),
          stat(persons.length, t('home.persons'), 'st-persons'),
          stat(referrals.length, t('home.referrals_open'), 'st-referrals'))),
      changedCard(changed, allPersons),
      desk,
      h('p', {
        class: pending ? 'notice warn' : 'notice ok', id: 'home-pending',
        text: pending ? `⬆ ${t('sync.pending', { n: pending })}` : `✓ ${t('sync.all_sent')}`,
      }),
      h('nav', { class: 'biglinks' },
        village && link('#/kunjungan/baru', 'btn primary', `+ ${t('nav.new_visit')}`),
        village && link('#/warga/baru', 'btn primary', `+ ${t('nav.register')}`),
        link(village ? '#/rujukan' : '#/meja', 'btn', t(village ? 'nav.referrals' : 'desk.title')),
        link('#/bertabrakan', conflicts.length ? 'btn attention' : 'btn',
          `${t('nav.conflicts')} (${conflicts.length})`),
        village && link('#/warga', 'btn', t('nav.persons')),
        village && link('#/kunjungan', 'btn', t('nav.visits'))),
    );
  };
  await draw();
  const off = onData(draw, ['jangkau:data', 'jangkau:status']);
  return () => {
    off();
    hint.stop();
  };
}
