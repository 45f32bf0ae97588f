/** Small DOM helpers shared by the screens: elements, labelled fields, toggles, steppers,
 *  buttons, messages. Knows nothing of storage (drafts: components/draft.js). */

import { t } from './i18n.js';

/** An element: props set as properties or attributes, on* as listeners; children appended. */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && !k.includes('-')) el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...kids.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

/** Go to a route ('/kunjungan/baru'). */
export function go(path) {
  location.hash = '#' + path;
}

/** Set the screen's heading and the document title. */
export function setTitle(text) {
  document.getElementById('title').textContent = text;
  document.title = `${text} · Jangkau`;
}

// A form with unsaved input holds back a new version of the app (see app.js).
let dirty = false;
/** Mark whether the open form has input not yet saved. */
export function setDirty(value) {
  if (dirty === value) return;
  dirty = value;
  window.dispatchEvent(new CustomEvent('jangkau:dirty', { detail: value }));
}
/** True while a form has input not yet saved. */
export function isDirty() {
  return dirty;
}

let uid = 0;
/** A labelled field: the label above the control, a hint, a warning line and an error line. */
export function field(labelText, control, { hint, badge } = {}) {
  const id = control.id || (control.id = `f${++uid}`);
  const note = h('p', { class: 'warn', id: `${id}-w`, hidden: true });
  const err = h('p', { class: 'err', id: `${id}-e`, hidden: true });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-h`, text: hint }) : null;
  const described = [hintEl && `${id}-h`, `${id}-w`, `${id}-e`].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  const wrap = h('div', { class: 'field' }, h('label', { htmlFor: id }, labelText, badge),
    control, hintEl, note, err);
  wrap.setError = (text) => {
    err.textContent = text ? `✖ ${text}` : '';
    err.hidden = !text;
    control.setAttribute('aria-invalid', text ? 'true' : 'false');
  };
  wrap.setWarn = (text) => {
    note.textContent = text ? `⚠ ${text}` : '';
    note.hidden = !text;
  };
  return wrap;
}

/** Large toggles for a choice: radios (one) or checkboxes (several), in a fieldset. */
export function toggles({ legend, name, opts, value, multiple = false, onChange, cls = '' }) {
  const chosen = () => (multiple ? [...box.querySelectorAll('input:checked')].map((i) => i.value)
    : box.querySelector('input:checked')?.value ?? null);
  const err = h('p', { class: 'err', hidden: true });
  const box = h('fieldset', { class: `tgs ${cls}` }, h('legend', { text: legend }),
    opts.map(([code, text]) => h('label', { class: 'tg' },
      h('input', {
        type: multiple ? 'checkbox' : 'radio', name, value: code,
        checked: multiple ? (value || []).includes(code) : value === code,
        onchange: () => onChange(chosen()),
      }),
      h('span', { text }))),
    err);
  box.setError = (text) => {
    err.textContent = text ? `✖ ${text}` : '';
    err.hidden = !text;
  };
  return box;
}

/** A count with − and + buttons and a numeric keyboard. */
export function stepper({ label: labelText, value, onChange, max = 10000 }) {
  const input = h('input', {
    type: 'text', inputmode: 'numeric', pattern: '[0-9]*', value: String(value ?? 0), class: 'num',
  });
  const set = (n) => {
    const v = Math.max(0, Math.min(max, n));
    input.value = String(v);
    onChange(v);
  };
  input.addEventListener('input', () => {
    const digits = input.value.replace(/\D/g, '');
    if (digits !== input.value) input.value = digits;
    onChange(digits === '' ? 0 : Math.min(max, +digits));
  });
  const stepButton = (words, text, by) => h('button', {
    type: 'button', class: 'step', 'aria-label': t(words, { what: labelText }), text,
    onclick: () => set((+input.value || 0) + by),
  });
  const minus = stepButton('ui.less', '−', -1);
  const plus = stepButton('ui.more', '+', 1);
  const wrap = field(labelText, input);
  wrap.classList.add('stepper');
  const row = h('div', { class: 'steprow' });
  input.replaceWith(row);
  row.append(minus, input, plus);
  return wrap;
}

/** A text input or textarea bound to state[key]; onInput runs after each keystroke. */
export function textInput(state, key, { multiline = false, onInput, ...props } = {}) {
  return h(multiline ? 'textarea' : 'input', {
    ...(multiline ? { rows: 4 } : { type: 'text' }),
    ...props,
    value: state[key] ?? '',
    oninput: (e) => {
      state[key] = e.target.value;
      onInput?.(e);
    },
  });
}

/** A select of an enumeration's options, with an empty first choice. */
export function select(opts, value, onChange, emptyText = t('ui.choose')) {
  return h('select', { onchange: (e) => onChange(e.target.value || null) },
    h('option', { value: '', text: emptyText }),
    opts.map(([code, text]) => h('option', { value: code, text, selected: code === value })));
}

/** The progress line of a form in steps. */
export function stepLine(n, of, name) {
  const progress = h('strong', { text: t('ui.step', { n, of }) });
  return h('p', { class: 'stepline' }, progress, ` · ${name}`);
}

/** The bottom bar with the screen's main action (and an optional secondary one). */
export function actions(...buttons) {
  return h('div', { class: 'actions' }, buttons);
}

/** A button; cls 'primary' for the main action. */
export function button(text, onclick, cls = 'primary', props = {}) {
  return h('button', { type: 'button', class: cls, text, onclick, ...props });
}

/** A short message that goes away by itself, read out by screen readers. */
export function toast(text) {
  const box = document.getElementById('toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

/** A message at the top of the screen about why something failed. */
export function notice(text, cls = 'err') {
  return h('p', { class: `notice ${cls}`, role: 'alert', text });
}

/** A new record id. */
export function newId() {
  return crypto.randomUUID();
}

/** The wall-clock milliseconds of an HLC ("000001730000000000-00000-node"). */
export function hlcMs(hlc) {
  const s = typeof hlc === 'string' ? hlc : hlc?.hlc;
  return s ? parseInt(s.slice(0, 15), 10) : null;
}

/** When a record was first written on any phone: the oldest of its field clocks. */
export function createdMs(record) {
  const times = Object.values(record._clocks || {}).map(hlcMs).filter(Boolean);
  return times.length ? Math.min(...times) : null;
}

/** Re-run fn when synced data or the language changes; returns the cleanup. */
export function onData(fn, events = ['jangkau:data', 'jangkau:lang']) {
  for (const e of events) window.addEventListener(e, fn);
  return () => events.forEach((e) => window.removeEventListener(e, fn));
}
