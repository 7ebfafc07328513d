// The frame around every page (menu, who is logged in, log out), the list of
// pages in the menu with the current page from the address, and the login form.
import { state, h, can, api, errorBox } from './core.js';
import { render, start } from './router.js';

const PAGES = [
  ['map', 'Map', 'view_cameras'],
  ['incidents', 'Incidents', 'dispatch'],
  ['review', 'Review', 'view_candidates'],
  ['search', 'Search', 'search'],
  ['watchlist', 'Watchlists', 'enroll'],
  ['cameras', 'Cameras', 'view_cameras'],
  ['audit', 'Audit', 'read_audit'],
  ['report', 'Transparency', 'report'],
  ['users', 'Users', 'manage_users'],
];
export const currentPage = () => (location.hash.replace(/^#\/?/, '') || defaultPage());
const defaultPage = () => (PAGES.find(([, , p]) => can(p)) || ['audit'])[0];

export function loginPage(err) {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'login', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const me = await api('POST', '/api/v1/session', { username: user.value, password: pass.value });
      state.me = me; state.csrf = me.csrf_token;
      await start();
    } catch (ex) { render(loginPage(ex)); }
  } },
    h('h1', {}, 'Civitas command centre'),
    h('p', { class: 'muted' }, 'Every action here is recorded in a tamper-evident audit log.'),
    err ? errorBox(err) : null,
    h('label', { for: 'username' }, 'User name'), user,
    h('label', { for: 'password' }, 'Password'), pass,
    h('button', { class: 'primary', type: 'submit' }, 'Log in'));
  return form;
}

export function shell(content) {
  const page = currentPage();
  return h('div', {},
    h('header', {},
      h('span', { class: 'brand' }, 'Civitas'),
      h('nav', {}, PAGES.filter(([, , p]) => can(p)).map(([id, label]) =>
        h('a', { href: `#/${id}`, class: id === page.split('?')[0] || (id === 'incidents' && page.startsWith('incident?')) ? 'active' : '', id: `nav-${id}` }, label,
          id === 'review' ? h('span', { class: 'badge', id: 'queue-count', style: 'display:none' }) : null))),
      h('span', { class: 'who', id: 'who' }, `${state.me.username} (${state.me.role})`),
      h('button', { id: 'logout', onclick: async () => {
        try { await api('DELETE', '/api/v1/session'); } catch { /* the session may already be gone */ }
        state.me = null; state.csrf = null; if (state.es) state.es.close(); render();
      } }, 'Log out')),
    h('main', { id: 'page' }, content));
}
