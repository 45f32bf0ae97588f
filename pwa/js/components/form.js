/** Forms for data entry, shared by every screen that writes a record (visit, registration,
 *  referral, and the desk's screens to come):
 *
 *  - draftForm(main, key, initial): the form's state from its draft (or `initial`), the
 *    "draft restored" line, and a <form> that keeps the draft as the user types. Returns
 *    {state, touch, box, store, saved}; call touch() after a change made without typing
 *    (a toggle), store.clear() once saved, and return store.flush as the screen's cleanup.
 *  - wizard(box, {state, steps, finish, finishText}): the form in steps, "Langkah 2 dari 4",
 *    Kembali / Lanjut and the last step's main action. Each step is a history entry, so the
 *    phone's Back goes one step back. steps: functions returning {name, body, check?, extra?}
 *    (check may be async and returns whether the step may be left). Returns
 *    {redraw, next, stop}; stop() belongs in the screen's cleanup.
 *  - need(field, ok, message): a validation message on a field (from ui.js field/toggles),
 *    shown when !ok and cleared when ok; returns ok.
 *  - changedFields(fields, record): what an edit form changed, to save only that.
 */

import { t } from '../i18n.js';
import { h, button, actions, stepLine } from '../ui.js';
import { draft } from './draft.js';

/** A form whose state is kept as a draft under key; see the header. */
export async function draftForm(main, key, initial) {
  const store = draft(key, () => ({ ...state }));
  const saved = await store.load();
  const state = { ...initial, ...(saved || {}) };
  const touch = () => store.save();
  const box = h('form', {
    class: 'form', novalidate: true, oninput: touch, onsubmit: (e) => e.preventDefault(),
  });
  if (saved) main.append(h('p', { class: 'notice ok', text: `↺ ${t('ui.draft_restored')}` }));
  main.append(box);
  return { state, touch, box, store, saved };
}

/** Show or clear a field's validation message; returns ok. */
export function need(control, ok, message = t('v.required')) {
  control.setError(ok ? '' : message);
  return !!ok;
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The fields of a record that the form changed (all of them for a new record). */
export function changedFields(fields, record) {
  if (!record) return fields;
  return Object.fromEntries(Object.entries(fields).filter(([k, v]) => !same(v, record[k])));
}

const STEP_KEY = 'wizardStep';

/** A form in steps, one history entry per step; see the header. */
export function wizard(box, { state, steps, finish, finishText }) {
  const hash = location.hash;
  const entry = (n) => ({ ...(history.state || {}), [STEP_KEY]: n });
  const onEntry = () => history.state?.[STEP_KEY];
  state.step = Math.min(Math.max(1, state.step || 1), steps.length);
  if (onEntry() !== state.step) {
    // A restored draft at step 3: steps 1 and 2 are behind it, as if walked through.
    history.replaceState(entry(1), '');
    for (let n = 2; n <= state.step; n++) history.pushState(entry(n), '');
  }
  const show = (n) => {
    state.step = n;
    draw();
    window.scrollTo(0, 0);
  };
  // Moving between steps is no input: the step is kept with the next keystroke.
  const back = () => (onEntry() === state.step ? history.back() : show(state.step - 1));
  const next = () => {
    history.pushState(entry(state.step + 1), '');
    show(state.step + 1);
  };
  const onPop = () => {
    const n = onEntry();
    if (location.hash === hash && typeof n === 'number' && n !== state.step) show(n);
  };
  window.addEventListener('popstate', onPop);

  async function leave(step, last) {
    if (step.check && !(await step.check())) {
      box.querySelector('.err:not([hidden])')?.scrollIntoView({ block: 'center' });
      return;
    }
    if (last) finish();
    else next();
  }

  function draw() {
    const step = steps[state.step - 1]();
    const last = state.step === steps.length;
    const backButton = state.step > 1 && button(t('ui.back'), back, 'secondary');
    const go = button(last ? finishText : t('ui.next'), () => leave(step, last), 'primary',
      { id: last ? 'save' : 'next' });
    box.replaceChildren(stepLine(state.step, steps.length, step.name),
      ...step.body.flat().filter(Boolean), actions(backButton, step.extra, go));
  }

  draw();
  return { redraw: draw, next, stop: () => window.removeEventListener('popstate', onPop) };
}
