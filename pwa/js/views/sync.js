/** Sinkronisasi: the truth about sync in full, "Sinkronkan sekarang", and the refused edits. */

import { listOutbox, listRefused, dismissRefused, getRecord, saveDraft, getMeta, setMeta } from '../db.js';
import { syncNow, getStatus } from '../sync-client.js';
import { t, label, formatTime, serverText } from '../i18n.js';
import { h, setTitle, go, button, actions, notice, onData } from '../ui.js';

/** Where to fix a refused edit: its form, holding the refused values as a draft to correct. */
async function fixRoute(entity, id, fields) {
  const record = await getRecord(entity, id);
  if (entity === 'visits') {
    await saveDraft(record ? `visit:${id}` : 'visit:new', { ...fields, step: 1 });
    return record ? `/kunjungan/${id}` : '/kunjungan/baru';
  }
  if (entity === 'persons' && record) {
    await saveDraft(`person:${id}`, { step: 1, person: { ...record, ...fields } });
    return `/warga/${id}/ubah`;
  }
  if (entity === 'referrals' && !record && fields?.person_id) {
    const { person_id: personId, ...rest } = fields;
    await saveDraft(`referral:${personId}`, { services: [], urgency: 'biasa', reason: '', case_category: null, ...rest });
    return `/rujuk/${personId}`;
  }
  if (entity === 'referrals') return `/rujukan/${id}`;
  const personId = record?.person_id || fields?.person_id;
  if (personId) return `/warga/${personId}`;
  const referralId = record?.referral_id || fields?.referral_id;
  return referralId ? `/rujukan/${referralId}` : '/';
}

function fieldErrors(errors) {
  // A refused batch names the mutation's "fields"; a refused mutation names the fields.
  const fields = errors?.fields && !Array.isArray(errors.fields) ? errors.fields : errors;
  if (!fields || typeof fields !== 'object') return [];
  return Object.entries(fields).map(([name, msgs]) => h('li', {
    text: `${t(`field.${name}`)}: ${[].concat(msgs).map((m) => (typeof m === 'string' ? m : serverText(m) || JSON.stringify(m))).join(' ')}`,
  }));
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
    const s = getStatus();
    const [outbox, refused, removed] = await Promise.all([listOutbox(), listRefused(), getMeta('removed')]);
    const counts = {};
    for (const m of outbox) counts[m.entity] = (counts[m.entity] || 0) + 1;
    box.replaceChildren(
      h('section', { class: 'card' },
        h('p', { class: 'big', text: s.online ? `● ${t('sync.online')}` : `⚠ ${t('sync.offline')}` }),
        h('p', { text: s.pending ? `⬆ ${t('sync.pending', { n: s.pending })}` : `✓ ${t('sync.all_sent')}` }),
        h('p', { text: s.lastSync ? t('sync.last', { time: formatTime(s.lastSync, 'datetime') }) : t('sync.never') }),
        s.syncing && h('p', { text: `⟳ ${t('sync.syncing')}` }),
        s.lastError && notice(`✖ ${serverText(s.lastError)}`),
        // An expired token: log in again as the same user; nothing on this phone is lost.
        s.lastError?.reason === 'unauthorized' && button(t('sync.login_again'), () => go('/masuk-lagi'), 'secondary wide'),
        s.clockWarning && notice(`⚠ ${serverText(s.clockWarning)}`),
        // Records that left the user's area were taken off this phone: say so until read.
        removed?.n > 0 && h('div', { id: 'sync-removed' },
          notice(`ℹ ${t('sync.removed', { n: removed.n })}`, 'warn'),
          button(t('sync.removed_ok'), async () => { await setMeta('removed', null); await draw(); }, 'secondary')),
        Object.keys(counts).length > 0 && h('ul', null, Object.entries(counts).map(([entity, n]) => h('li', { text: `${t(`entity.${entity}`)}: ${n}` })))),
      h('section', { class: 'card' },
        h('h2', { text: t('sync.refused_title') }),
        refused.length ? h('ul', { class: 'items' }, refused.map((r) => {
          return h('li', { class: 'item refused' },
            h('strong', { text: t(`entity.${r.entity}`) }),
            // Invalid data is said by its fields; other refusals in the server's words.
            h('p', { text: r.reason === 'invalid' ? label('refusal_reason', 'invalid') : serverText(r.message) || label('refusal_reason', r.reason) }),
            h('ul', { class: 'errs' }, fieldErrors(r.errors)),
            h('div', { class: 'row2' },
              button(t('sync.fix'), async () => go(await fixRoute(r.entity, r.id, r.fields)), 'secondary'),
              button(t('sync.dismiss'), async () => { await dismissRefused(r.mutation_id); await draw(); }, 'secondary')));
        })) : h('p', { class: 'hint', text: t('sync.no_refused') })),
    );
  };
  await draw();
  return onData(draw, ['jangkau:data', 'jangkau:status', 'jangkau:lang']);
}
