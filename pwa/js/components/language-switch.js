/** The language choice: two large buttons, Bahasa Indonesia and English. */

import { loadLang, lang, t } from '../i18n.js';
import { h } from '../ui.js';

/** Two large toggles; choosing one loads its words and tells the app ('jangkau:lang'),
 *  which draws the screen again. */
export function languageSwitch() {
  const choose = async (code) => {
    await loadLang(code);
    window.dispatchEvent(new CustomEvent('jangkau:lang'));
  };
  const opts = [['id', 'Bahasa Indonesia'], ['en', 'English']];
  return h('fieldset', { class: 'tgs lang' }, h('legend', { text: t('menu.language') }),
    opts.map(([code, text]) => h('label', { class: 'tg' },
      h('input', {
        type: 'radio', name: 'lang', value: code, checked: lang() === code,
        onchange: () => choose(code),
      }),
      h('span', { text, lang: code }))));
}
