/** What the online-only screens share: how a failed request and no signal are said. */

import { t, serverText } from './i18n.js';
import { notice } from './ui.js';

/** The message for a failed request: no signal said as such, else the server's words. */
export function failureNotice(error) {
  if (error?.status === 0) return notice(t('ops.offline'), 'warn');
  return notice(serverText(error) || t('ops.failed'));
}

/** True (with the message drawn into box) when the phone has no signal. */
export function offline(box) {
  if (navigator.onLine) return false;
  box.replaceChildren(notice(t('ops.offline'), 'warn'));
  return true;
}
