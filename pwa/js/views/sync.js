/** Sinkronisasi: the truth about sync in full, "Sinkronkan sekarang", and the refused edits. */

import {
  listOutbox, listRefused, dismissRefused, getRecord, saveEdit, getMeta, setMeta,
} from '../db.js';
import { syncNow, getStatus } from '../sync-client.js';
import { t, formatTime, serverText } from '../i18n.js';
import { h, setTitle, go, button, actions, notice, onData } from '../ui.js';
import { refusalReason, fieldErrors } from '../components/marks.js';

/** Where to fix a refused edit: the screen of its record, which still shows the refused
 *  values; saving there edits the same record, so a fix never makes a second one. */
async function fixRoute(entity, id, fields) {
  if (entity === 'visits') return `/kunjungan/${id}`;
  if (entity === 'persons') return `/warga/${id}/ubah`;
  if (entity === 'referrals') return `/rujukan/${id}`;
  const record = await getRecord(entity, id);
  const personId = record?.person_id || fields?.person_id;
  if (personId) return `/warga/${personId}`;
  const referralId = record?.referral_id || fields?.referral_id;
  return referralId ? `/rujukan/${referralId}` : '/';
}

/** "Abaikan" says first what is lost: a record the server never had, or only this edit. */
function confirmDismiss(r) {
  const what = t(`entity.${r.entity}`);
  if (!r.on_server) return window.confirm(t('sync.dismiss_new', { what }));
  const fields = Object.keys(r.fields || {}).map((name) => t(`field.${name}`)).join(', ');
  return window.confirm(t('sync.dismiss_edit', { what, fields }));
}

const REMOVED_WORDS = {
  scope_left: 'sync.removed', consent_withdrawn: 'sync.removed_consent_withdrawn',
  erased: 'sync.removed_erased',
};

function removedNotices(removed) {
  const by = removed.by || { scope_left: removed.n };
  return Object.entries(REMOVED_WORDS).filter(([reason]) => by[reason] > 0)
    .map(([reason, key]) => notice(`ℹ ${t(key, { n: by[reason] })}`, 'warn'));
}

function statusCard(s, outbox, removed, draw) {
  const counts = {};
  for (const m of outbox) counts[m.entity] = (counts[m.entity] || 0) + 1;
  const forget = async () => {
    await setMeta('removed', null);
    await draw();
  };
  const allSent = t('sync.all_sent');
  return h('section', { class: 'card' },
    h('p', { class: 'big', text: s.online ? `● ${t('sync.online')}` : `⚠ ${t('sync.offline')}` }),
    h('p', { text: s.pending ? `⬆ ${t('sync.pending', { n: s.pending })}` : `✓ ${allSent}` }),
    h('p', { text: s.lastSync ? t('sync.last', { time: formatTime(s.lastSync, 'datetime') })
      : t('sync.never') }),
    s.syncing && h('p', { text: `⟳ ${t('sync.syncing')}` }),
    s.lastError && notice(`✖ ${serverText(s.lastError)}`),
    // An expired token: log in again as the same user; nothing on this phone is lost.
    s.lastError?.reason === 'unauthorized'
      && button(t('sync.login_again'), () => go('/masuk-lagi'), 'secondary wide'),
    s.clockWarning && notice(`⚠ ${serverText(s.clockWarning)}`),
    // Records that left the user's area, or every phone, were taken off this phone: say
    // so, per reason, until read.
    removed?.n > 0 && h('div', { id: 'sync-removed' },
      removedNotices(removed), button(t('sync.removed_ok'), forget, 'secondary')),
    Object.keys(counts).length > 0 && h('ul', null, Object.entries(counts)
      .map(([entity, n]) => h('li', { text: `${t(`entity.${entity}`)}: ${n}` }))));
}

function refusedItem(r, draw) {
  const resend = async (e) => {
    e.currentTarget.disabled = true;
    await saveEdit(r.entity, r.id, {}, { op: r.op });
    await draw();
  };
  const dismiss = async () => {
    if (!confirmDismiss(r)) return;
    await dismissRefused(r.mutation_id);
    await draw();
  };
  return h('li', { class: 'item refused' },
    h('strong', { text: t(`entity.${r.entity}`) }),
    // Invalid data is said by its fields; other refusals in the server's words.
    h('p', { text: refusalReason(r) }),
    h('ul', { class: 'errs' }, fieldErrors(r.errors)),
    h('div', { class: 'row2 wrap' },
      button(t('sync.fix'), async () => go(await fixRoute(r.entity, r.id, r.fields)), 'secondary'),
      // Once the cause is fixed elsewhere (e.g. the person's data): the same record again.
      button(t('sync.resend'), resend, 'secondary'),
      button(t('sync.dismiss'), dismiss, 'secondary')));
}

export async function render(main) {
  setTitle(t('sync.details'));
  const box = h('div', { 'aria-live': 'polite' });
  const now = button(t('sync.now'), async () => {
    now.disabled = true;
    try {
      await syncNow();
    } catch { /* the status shows the error */ }
    now.disabled = false;
    await draw();
  }, 'primary', { id: 'sync-now' });
  main.append(box, actions(now));
  const draw = async () => {
    const [outbox, refused, removed] = await Promise.all(
      [listOutbox(), listRefused(), getMeta('removed')]);
    box.replaceChildren(
      statusCard(getStatus(), outbox, removed, draw),
      h('section', { class: 'card' },
        h('h2', { text: t('sync.refused_title') }),
        refused.length ? h('ul', { class: 'items' }, refused.map((r) => refusedItem(r, draw)))
          : h('p', { class: 'hint', text: t('sync.no_refused') })),
    );
  };
  await draw();
  return onData(draw, ['jangkau:data', 'jangkau:status', 'jangkau:lang']);
}
