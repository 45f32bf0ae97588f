/** Pemberitahuan: the in-app notifications (the same events as web push, for every phone),
 *  and web push on this phone, switched on only when the user chooses to. Online only. */

import { request } from '../api.js';
import { t, lang, serverText, formatTime } from '../i18n.js';
import { h, setTitle, button, notice, toast } from '../ui.js';
import { failureNotice, offline } from '../online.js';
import { pushSupported, pushPermission, pushActive, subscribePush, unsubscribePush }
  from '../push.js';

const REFERRAL_ID = /^[\w-]{36}$/;

function words(n) {
  const en = lang() === 'en' && n.en;
  return { title: (en ? n.en.title : n.title) || '', body: (en ? n.en.body : n.body) || '' };
}

function row(n) {
  const { title, body } = words(n);
  const href = REFERRAL_ID.test(n.referral_id || '') ? `#/rujukan/${n.referral_id}` : '#/';
  return h('li', { class: n.read ? 'card notif' : 'card notif unread', 'data-id': n.id,
    'data-read': n.read ? 'true' : 'false' },
  h('a', { href },
    !n.read && h('span', { class: 'badge child', text: t('notif.new') }),
    h('strong', { text: ` ${title}` })),
  h('p', { text: body }),
  h('p', { class: 'hint', text: formatTime(n.created_at, 'datetime') }));
}

async function drawList(box, session) {
  if (offline(box)) return;
  let page;
  try {
    page = await request('GET', '/api/notifications?per_page=50', null, session.token);
  } catch (error) {
    box.replaceChildren(failureNotice(error));
    return;
  }
  const { items, unread } = page;
  const markAll = async () => {
    try {
      await request('POST', '/api/notifications/read', { up_to: items[0].id }, session.token);
      toast(t('notif.marked'));
      await drawList(box, session);
    } catch (error) {
      box.prepend(failureNotice(error));
    }
  };
  box.replaceChildren(
    h('p', { id: 'notif-unread', class: unread ? 'notice warn' : 'notice ok',
      text: unread ? t('notif.unread', { n: unread }) : t('notif.all_read') }),
    unread > 0 && button(t('notif.mark_all'), markAll, 'secondary', { id: 'mark-read' }),
    items.length ? h('ul', { class: 'notifs', style: 'list-style:none;padding:0' },
      items.map(row)) : h('p', { class: 'hint', text: t('notif.none') }),
  );
}

function pushFailure(error) {
  if (error.reason === 'server') return notice(serverText(error.error) || t('ops.failed'));
  if (error.reason === 'offline') return notice(t('ops.offline'), 'warn');
  return notice(t(`push.err_${error.reason}`), error.reason === 'unavailable' ? 'warn' : 'err');
}

async function run(box, session, action, doneText) {
  const msg = box.querySelector('.push-msg');
  box.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  msg.replaceChildren(h('p', { class: 'hint', text: t('push.working') }));
  try {
    await action(session.token);
    toast(doneText);
    await drawPush(box, session);
  } catch (error) {
    console.error(error);
    box.querySelectorAll('button').forEach((b) => { b.disabled = false; });
    msg.replaceChildren(pushFailure(error));
  }
}

async function drawPush(box, session) {
  const head = h('h2', { text: t('push.title') });
  const msg = h('div', { class: 'push-msg', 'aria-live': 'polite' });
  if (!pushSupported()) {
    box.replaceChildren(head, notice(t('push.err_unsupported'), 'warn'));
    return;
  }
  if (await pushActive(session.token).catch(() => false)) {
    box.replaceChildren(head, h('p', { class: 'notice ok', id: 'push-state', text: t('push.on') }),
      button(t('push.off_button'), () => run(box, session, unsubscribePush, t('push.off_done')),
        'secondary', { id: 'push-off' }), msg);
    return;
  }
  box.replaceChildren(head,
    h('p', { id: 'push-state', text: t('push.why') }),
    h('p', { class: 'hint', text: t('push.privacy') }),
    pushPermission() === 'denied' && notice(t('push.err_denied'), 'warn'),
    button(t('push.on_button'), () => run(box, session, subscribePush, t('push.on_done')),
      'primary', { id: 'push-on' }),
    msg);
}

export async function render(main, { session }) {
  setTitle(t('notif.title'));
  const pushBox = h('section', { class: 'card', id: 'push' });
  const listBox = h('section', { id: 'notifications', 'aria-live': 'polite' });
  main.append(h('p', { class: 'hint', text: t('ops.online_only') }), listBox, pushBox);
  await Promise.all([drawList(listBox, session), drawPush(pushBox, session)]);
  const again = () => drawList(listBox, session);
  window.addEventListener('online', again);
  return () => window.removeEventListener('online', again);
}
