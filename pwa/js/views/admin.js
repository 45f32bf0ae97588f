/** Admin: accounts (create, deactivate, reset a password, devices and their revocation),
 *  organisations and community groups. Online only, for the admin role. */

import { request } from '../api.js';
import { t, label, options, formatTime } from '../i18n.js';
import { h, setTitle, field, select, toggles, notice, toast } from '../ui.js';
import { regionIndex, reference, refreshReference, desaPicker } from '../refdata.js';
import { ADMIN_ROLES } from '../ops.js';
import { failureNotice, offline } from '../online.js';
import { input, apiForm, apiButton, showErrors } from '../admin-forms.js';
import { confirmAction } from '../components/confirm.js';

const ORG_KINDS = ['ltsa', 'mrc', 'ngo', 'pemerintah'];
const list = (items) => h('ul', { class: 'admin-list', style: 'list-style:none;padding:0' }, items);

// One device: its name, last use, why it ended; a live one can be revoked (a lost phone),
// which erases its data at its next contact, so the admin is asked twice.
function deviceRow(d, { user, token, msg, redraw }) {
  const used = formatTime(d.last_used_at || d.created_at, 'datetime');
  const ended = d.revoked_reason ? t(`admin.ended_${d.revoked_reason}`) : t('admin.revoked_badge');
  const run = async () => {
    const path = `/api/admin/users/${user.id}/devices/${d.id}/revoke`;
    try {
      await request('POST', path, null, token);
      msg.replaceChildren(notice(t('admin.device_revoked'), 'ok'));
    } catch (error) {
      msg.replaceChildren(failureNotice(error));
    }
    await redraw();
  };
  return h('li', { class: 'device', 'data-device': d.id },
    h('strong', { text: d.device_name || t('admin.unnamed_device') }),
    h('span', { class: 'hint', text: ` · ${t('admin.device_used', { time: used })}` }),
    d.revoked_at ? h('span', { class: 'badge child', text: ended })
      : confirmAction({ action: t('admin.revoke_device'), yes: t('admin.revoke_device_yes'),
        explain: t('admin.revoke_device_explain'), run, id: `revoke-device-${d.id}` }));
}

async function drawDevices(box, user, token, msg) {
  let items;
  try {
    ({ items } = await request('GET', `/api/admin/users/${user.id}/devices`, null, token));
  } catch (error) {
    box.replaceChildren(failureNotice(error));
    return;
  }
  const live = items.filter((d) => !d.revoked_at).length;
  const redraw = () => drawDevices(box, user, token, msg);
  const revoke = async () => {
    const path = `/api/admin/users/${user.id}/revoke-devices`;
    try {
      const { revoked } = await request('POST', path, null, token);
      msg.replaceChildren(notice(t('admin.revoked', { n: revoked }), 'ok'));
    } catch (error) {
      msg.replaceChildren(failureNotice(error));
    }
    await redraw();
  };
  box.replaceChildren(
    items.length ? list(items.map((d) => deviceRow(d, { user, token, msg, redraw })))
      : h('p', { class: 'hint', text: t('admin.no_devices') }),
    // The same rule as one device: every phone erases its data at its next contact.
    live > 0 && confirmAction({ action: t('admin.revoke_devices', { n: live }),
      explain: t('admin.revoke_devices_explain'), yes: t('admin.revoke_device_yes'),
      run: revoke, id: `revoke-${user.id}` }));
}

function drawPanel(panel, user, token, reload) {
  const msg = h('div', { 'aria-live': 'polite' });
  const devices = h('div', { class: 'devices' });
  const moveBox = h('div');
  const pw = { password: '' };
  const pwField = input(pw, 'password', t('admin.new_password'),
    { type: 'password', autocomplete: 'new-password' });
  const patch = (body) => request('PATCH', `/api/admin/users/${user.id}`, body, token);
  const toggleActive = async () => {
    await patch({ is_active: !user.is_active });
    toast(user.is_active ? t('admin.deactivated') : t('admin.activated'));
    await reload();
  };
  const resetPassword = async () => {
    try {
      await patch({ password: pw.password });
      pwField.setError('');
      msg.replaceChildren(notice(t('admin.password_set'), 'ok'));
    } catch (error) {
      showErrors(error, { password: pwField }, msg);
    }
  };
  // Deactivating ends every token for good: each phone erases its data, so it is asked twice.
  const activeButton = user.is_active
    ? confirmAction({ action: t('admin.deactivate'), explain: t('admin.deactivate_explain'),
      yes: t('admin.deactivate_yes'), id: `active-${user.id}`, run: async () => {
        try {
          await toggleActive();
        } catch (error) {
          msg.replaceChildren(failureNotice(error));
        }
      } })
    : apiButton(t('admin.activate'), toggleActive, msg, 'secondary', { id: `active-${user.id}` });
  panel.replaceChildren(msg, activeButton,
    h('div', { class: 'card' }, pwField, h('p', { class: 'hint', text: t('admin.password_hint') }),
      apiButton(t('admin.reset_password'), resetPassword, msg, 'secondary',
        { id: `password-${user.id}` })),
    moveBox,
    h('h3', { text: t('admin.devices') }), devices);
  if (user.role !== 'admin') moveForm(moveBox, user, token, reload);
  return drawDevices(devices, user, token, msg);
}

// Where the account works: the desa, organisation or group its role needs. Its phones start
// over at their next sync, so what it may no longer read leaves them.
async function moveForm(holder, user, token, reload) {
  const state = { role: user.role, desa_code: user.desa_code,
    organisation_code: user.organisation?.code || null,
    community_group_id: user.community_group_id || null };
  const [index, orgs, groups] = await Promise.all([
    regionIndex(), reference('organisations'), reference('groups')]);
  const scope = h('div');
  const fields = {};
  const redraw = () => scope.replaceChildren(
    ...scopeFields(state, fields, { index, orgs, groups }, redraw).filter(Boolean));
  redraw();
  const { role: _role, ...place } = state;
  holder.replaceChildren(apiForm({ id: `move-${user.id}`, title: t('admin.move'), fields,
    layout: [scope, h('p', { class: 'hint', text: t('admin.move_hint') })],
    method: 'PATCH', path: `/api/admin/users/${user.id}`, submitText: t('admin.move_save'),
    token, body: () => Object.fromEntries(Object.keys(place).map((k) => [k, state[k]])),
    done: async () => {
      toast(t('admin.moved'));
      await reload();
    } }));
}

function accountRow(user, token, reload) {
  const panel = h('div', { class: 'account-panel', hidden: true });
  const scope = [label('role', user.role), user.desa_name, user.organisation?.name];
  const manage = h('button', { type: 'button', class: 'secondary', text: t('admin.manage'),
    'aria-expanded': 'false', id: `manage-${user.id}`,
    onclick: (e) => {
      panel.hidden = !panel.hidden;
      e.target.setAttribute('aria-expanded', String(!panel.hidden));
      if (!panel.hidden) drawPanel(panel, user, token, reload);
    } });
  return h('li', { class: 'card', 'data-username': user.username },
    h('strong', { text: user.full_name }), h('span', { text: ` (${user.username})` }),
    !user.is_active && h('span', { class: 'badge child', text: t('admin.inactive') }),
    h('p', { class: 'hint', text: scope.filter(Boolean).join(' · ') }), manage, panel);
}

async function drawAccounts(box, state, token) {
  const reload = () => drawAccounts(box, state, token);
  const q = state.q.trim() ? `&q=${encodeURIComponent(state.q.trim())}` : '';
  let page;
  try {
    page = await request('GET', `/api/admin/users?per_page=100${q}`, null, token);
  } catch (error) {
    box.replaceChildren(failureNotice(error));
    return;
  }
  box.replaceChildren(h('p', { class: 'hint', text: t('admin.accounts_count', { n: page.total }) }),
    list(page.items.map((user) => accountRow(user, token, reload))));
}

function scopeFields(state, fields, refs, redraw) {
  const role = state.role;
  fields.desa_code = ['officer', 'community'].includes(role) && desaPicker({ value: state.desa_code,
    index: refs.index, onChange: (code) => { state.desa_code = code; redraw(); } });
  const orgs = refs.orgs.filter((o) => o.is_active !== false).map((o) => [o.code, o.name]);
  fields.organisation = ['partner', 'ltsa'].includes(role) && field(t('admin.organisation'),
    select(orgs, state.organisation_code, (v) => { state.organisation_code = v; }));
  const groups = refs.groups.filter((g) => g.desa_code === state.desa_code)
    .map((g) => [g.id, g.name]);
  fields.community_group_id = role === 'community' && field(t('admin.group'),
    select(groups, state.community_group_id, (v) => { state.community_group_id = v; }),
    { hint: state.desa_code ? null : t('admin.group_hint') });
  return [fields.desa_code, fields.organisation, fields.community_group_id];
}

async function accountForm(holder, token, reloadList) {
  const state = { username: '', full_name: '', password: '', role: null, desa_code: null,
    organisation_code: null, community_group_id: null };
  const [index, orgs, groups] = await Promise.all([
    regionIndex(), reference('organisations'), reference('groups')]);
  const scope = h('div');
  const fields = {
    username: input(state, 'username', t('admin.username'), { autocapitalize: 'none' }),
    full_name: input(state, 'full_name', t('admin.full_name')),
    password: input(state, 'password', t('admin.password'),
      { type: 'password', autocomplete: 'new-password' }),
  };
  const redraw = () => scope.replaceChildren(
    ...scopeFields(state, fields, { index, orgs, groups }, redraw).filter(Boolean));
  fields.role = field(t('admin.role'), select(options('role'), null, (v) => {
    state.role = v;
    redraw();
  }));
  const layout = [fields.username, fields.full_name, fields.password, fields.role, scope];
  holder.replaceChildren(apiForm({ id: 'account-form', title: t('admin.new_account'), fields,
    layout, method: 'POST', path: '/api/admin/users', submitText: t('admin.create'), token,
    body: () => Object.fromEntries(Object.entries(state).filter(([, v]) => v)),
    done: async (user) => {
      toast(t('admin.account_created', { name: user.username }));
      await accountForm(holder, token, reloadList);
      await reloadList();
    } }));
}

async function accountsSection(token) {
  const state = { q: '' };
  const box = h('div', { id: 'accounts' });
  const reload = () => drawAccounts(box, state, token);
  const formBox = h('div');
  const search = h('form', { role: 'search', onsubmit: (e) => { e.preventDefault(); reload(); } },
    input(state, 'q', t('admin.search'), { type: 'search' }),
    h('button', { type: 'submit', class: 'secondary', text: t('admin.search_button') }));
  await Promise.all([accountForm(formBox, token, reload), reload()]);
  return h('section', { id: 'admin-accounts' }, h('h2', { text: t('admin.accounts') }),
    formBox, search, box);
}

function orgRow(org, token, reload) {
  const msg = h('div', { 'aria-live': 'polite' });
  const toggle = async () => {
    await request('PATCH', `/api/organisations/${org.id}`, { is_active: !org.is_active }, token);
    await refreshReference(token, ['organisations']);
    await reload();
  };
  const services = org.services.map((s) => label('service', s)).join(', ');
  return h('li', { class: 'card', 'data-org': org.code },
    h('strong', { text: org.name }), h('span', { text: ` (${org.code})` }),
    !org.is_active && h('span', { class: 'badge child', text: t('admin.inactive') }),
    h('p', { class: 'hint', text: [t(`admin.kind_${org.kind}`), services].filter(Boolean)
      .join(' · ') }),
    apiButton(org.is_active ? t('admin.deactivate') : t('admin.activate'), toggle, msg),
    msg);
}

function orgForm(token, reload) {
  const state = { code: '', name: '', kind: null, services: [] };
  const fields = {
    code: input(state, 'code', t('admin.org_code'), { autocapitalize: 'none' }),
    name: input(state, 'name', t('admin.org_name')),
    kind: field(t('admin.org_kind'), select(ORG_KINDS.map((k) => [k, t(`admin.kind_${k}`)]),
      null, (v) => { state.kind = v; })),
    services: toggles({ legend: t('admin.org_services'), name: 'org-services', multiple: true,
      opts: options('service'), value: [], onChange: (v) => { state.services = v; } }),
  };
  return apiForm({ id: 'org-form', title: t('admin.new_org'), fields, method: 'POST',
    path: '/api/organisations', submitText: t('admin.create'), token,
    body: () => ({ ...state, kind: state.kind || undefined }),
    done: async () => {
      await refreshReference(token, ['organisations']);
      await reload();
    } });
}

async function orgsSection(token) {
  const box = h('div', { id: 'organisations' });
  const reload = async () => {
    try {
      const { items } = await request('GET', '/api/organisations', null, token);
      box.replaceChildren(list(items.map((org) => orgRow(org, token, reload))));
    } catch (error) {
      box.replaceChildren(failureNotice(error));
    }
  };
  await reload();
  return h('section', { id: 'admin-orgs' }, h('h2', { text: t('admin.orgs') }), box,
    h('details', null, h('summary', { text: t('admin.new_org') }), orgForm(token, reload)));
}

async function groupsSection(token) {
  const box = h('div', { id: 'groups' });
  const reload = async () => {
    try {
      const { items } = await request('GET', '/api/community-groups', null, token);
      box.replaceChildren(list(items.map((g) => h('li', { class: 'card', 'data-group': g.id },
        h('strong', { text: g.name }), h('p', { class: 'hint', text: g.desa_name || '' })))));
    } catch (error) {
      box.replaceChildren(failureNotice(error));
    }
  };
  const state = { name: '', desa_code: null };
  const index = await regionIndex();
  const fields = { name: input(state, 'name', t('admin.group_name')),
    desa_code: desaPicker({ value: null, index, onChange: (c) => { state.desa_code = c; } }) };
  const form = apiForm({ id: 'group-form', title: t('admin.new_group'), fields, method: 'POST',
    path: '/api/admin/community-groups', submitText: t('admin.create'), token,
    body: () => state, done: async () => {
      await refreshReference(token, ['groups']);
      await reload();
    } });
  await reload();
  return h('section', { id: 'admin-groups' }, h('h2', { text: t('admin.groups') }), box,
    h('details', null, h('summary', { text: t('admin.new_group') }), form));
}

export async function render(main, { session }) {
  setTitle(t('admin.title'));
  if (!ADMIN_ROLES.has(session.user.role)) {
    main.append(notice(t('admin.not_for_role'), 'warn'));
    return null;
  }
  main.append(h('p', { class: 'hint', text: t('ops.online_only') }));
  const box = h('div');
  main.append(box);
  if (offline(box)) return null;
  const token = session.token;
  box.append(...await Promise.all([accountsSection(token), orgsSection(token),
    groupsSection(token)]));
  return null;
}
