/** Lists of records in pages, shared by the list screens (visits, persons, referrals, and the
 *  desk's inboxes to come):
 *
 *  pagedList({load, item, empty, filter?}) -> {el, reload, redraw}
 *    load(): the records (async), newest first; item(record): the <li>'s content, usually a
 *    link made with itemLink(); empty: the words when there is none; filter(record) (optional)
 *    keeps what a search box shows. `el` holds the list and its "more" button; reload() reads
 *    the records again (on new data), redraw() after the filter changed (back to page one).
 */

import { t } from '../i18n.js';
import { h, button } from '../ui.js';

const PAGE = 30;

/** A list of records in pages of 30; see the header. */
export function pagedList({ load, item, empty, filter }) {
  const ul = h('ul', { class: 'items' });
  let all = [];
  let shown = PAGE;
  const draw = () => {
    const hits = filter ? all.filter(filter) : all;
    ul.replaceChildren(...hits.slice(0, shown).map((r) => h('li', null, item(r))));
    if (!hits.length) ul.append(h('li', { class: 'hint', text: empty }));
    more.hidden = hits.length <= shown;
  };
  const more = button(t('ui.more_items'), () => {
    shown += PAGE;
    draw();
  }, 'secondary wide');
  return {
    el: [ul, more],
    async reload() {
      all = await load();
      draw();
    },
    redraw() {
      shown = PAGE;
      draw();
    },
  };
}

/** A list item that opens a record: a link with the item's lines. */
export function itemLink(href, ...lines) {
  return h('a', { href, class: 'item' }, ...lines);
}
