/** An action that cannot be undone, asked twice: its button opens a line saying what will
 *  happen, with "Ya, …" and Batal; only "Ya" acts. Returns the element to place. */

import { t } from '../i18n.js';
import { h, button } from '../ui.js';

/** {action: the button's words, explain, yes, run: async () => void, id?} */
export function confirmAction({ action, explain, yes, run, id }) {
  const ask = h('div', { 'aria-live': 'polite' });
  const open = () => {
    const go = button(yes, async () => {
      go.disabled = true;
      await run();
    }, 'danger');
    ask.replaceChildren(
      h('p', { class: 'notice warn', text: explain }),
      h('div', { class: 'row2' }, go,
        button(t('ui.cancel'), () => ask.replaceChildren(), 'secondary')));
  };
  return h('div', { class: 'confirm' }, button(action, open, 'danger wide', id ? { id } : {}), ask);
}
