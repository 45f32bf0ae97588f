/** The hint to put the app on the home screen: the browser's own dialog where it offers one,
 *  otherwise how to do it from Chrome's menu; "Tutup" hides it for good on this phone. */

import { t } from '../i18n.js';
import { h, button } from '../ui.js';
import {
  INSTALL_CHANGED, hintWanted, canPrompt, promptInstall, dismissHint,
} from '../install.js';

/** {el, stop}: place el; call stop() in the screen's cleanup. */
export function installHint() {
  const el = h('section', { class: 'card', id: 'install-hint', 'aria-live': 'polite' });
  const draw = () => {
    el.hidden = !hintWanted();
    if (el.hidden) {
      el.replaceChildren();
      return;
    }
    const how = canPrompt()
      ? button(t('install.add'), () => promptInstall(), 'primary wide')
      : h('p', { text: t('install.how_chrome') });
    el.replaceChildren(
      h('h2', { text: `📲 ${t('install.title')}` }),
      h('p', { class: 'hint', text: t('install.why') }),
      how,
      h('div', { class: 'inline-actions' },
        button(t('install.dismiss'), dismissHint, 'secondary')));
  };
  window.addEventListener(INSTALL_CHANGED, draw);
  draw();
  return { el, stop: () => window.removeEventListener(INSTALL_CHANGED, draw) };
}
