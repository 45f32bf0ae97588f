/** Forms of the admin screen: a field per server field, and the server's refusal shown
 *  under the field it names (or above the form when it names none). */

import { request } from './api.js';
import { t, serverText } from './i18n.js';
import { h, field, button, notice } from './ui.js';
import { failureNotice } from './online.js';

/** A text input bound to state[key], in a labelled field. */
export function input(state, key, labelText, props = {}) {
  const control = h('input', { type: 'text', autocomplete: 'off', ...props,
    value: state[key] ?? '', oninput: (e) => { state[key] = e.target.value; } });
  return field(labelText, control);
}

/** Show an ApiError: each named field's message under it, the rest in msg. */
export function showErrors(error, fields, msg) {
  Object.values(fields).forEach((f) => f?.setError?.(''));
  const named = error?.fields || {};
  const unplaced = [];
  for (const [name, messages] of Object.entries(named)) {
    const words = (Array.isArray(messages) ? messages : [messages]).map((m) => (
      typeof m === 'string' ? m : serverText(m))).join(' ');
    const target = fields[name] || fields[name.split('.')[0]];
    if (target?.setError) target.setError(words);
    else unplaced.push(`${name}: ${words}`);
  }
  msg.replaceChildren(failureNotice(error),
    ...unplaced.map((line) => h('p', { class: 'err', text: `✖ ${line}` })));
}

/** A form that sends body() to the API and calls done(answer); refusals shown in place.
 *  fields: name -> field (for the server's messages); layout: what the form shows. */
export function apiForm({ id, title, fields, layout, body, method, path, submitText, token,
  done }) {
  const msg = h('div', { 'aria-live': 'polite' });
  const send = async (e) => {
    e?.preventDefault();
    msg.replaceChildren(h('p', { class: 'hint', text: t('admin.sending') }));
    try {
      const answer = await request(method, path, body(), token);
      Object.values(fields).forEach((f) => f?.setError?.(''));
      msg.replaceChildren(notice(t('admin.saved'), 'ok'));
      await done(answer);
    } catch (error) {
      showErrors(error, fields, msg);
    }
  };
  return h('form', { class: 'card', id, onsubmit: send },
    title && h('h3', { text: title }),
    (layout || Object.values(fields)).filter(Boolean),
    msg,
    h('button', { type: 'submit', class: 'primary', text: submitText }));
}

/** A button that runs an API call and reports in msg. */
export function apiButton(text, call, msg, cls = 'secondary', props = {}) {
  return button(text, async (e) => {
    e.target.disabled = true;
    try {
      await call();
    } catch (error) {
      msg.replaceChildren(failureNotice(error));
    } finally {
      e.target.disabled = false;
    }
  }, cls, props);
}
