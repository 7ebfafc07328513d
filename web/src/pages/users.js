// The users page (administrators): every user with their role, cameras and
// live console sessions, and every machine's token; ending a session or
// revoking a token takes effect at once (the server audits both).
import { h, fmtTime, api, errorBox } from '../core.js';
import { render } from '../router.js';

// A button that runs `act`, then redraws the page (or shows why it failed).
const action = (label, cls, act, result) => h('button', { class: cls, onclick: async () => {
  try { await act(); await render(); } catch (e) { result.replaceChildren(errorBox(e)); }
} }, label);

export async function usersPage() {
  const { users, tokens } = await api('GET', '/api/v1/users');
  const result = h('div', { id: 'users-result' });
  const sessionRows = users.flatMap((u) => u.sessions.map((s) => h('tr', {},
    h('td', {}, u.username), h('td', {}, fmtTime(s.started_at_ms)), h('td', {}, fmtTime(s.last_used_ms)),
    h('td', {}, action('End session', 'end-session', () => api('DELETE', `/api/v1/sessions/${s.id}`), result)))));
  return h('div', {}, h('h1', {}, 'Users'), result,
    h('table', { id: 'users' }, h('thead', {}, h('tr', {}, ['User', 'Role', 'Cameras', 'State', 'Sessions'].map((t) => h('th', {}, t)))),
      h('tbody', {}, users.map((u) => h('tr', {}, h('td', {}, u.username), h('td', {}, u.role), h('td', {}, u.scope.join(', ')),
        h('td', {}, u.disabled ? h('span', { class: 'pill offline' }, 'disabled') : 'active'), h('td', {}, u.sessions.length))))),
    h('h2', {}, 'Live sessions'),
    sessionRows.length ? h('table', { id: 'sessions' }, h('thead', {}, h('tr', {}, ['User', 'Began', 'Last used', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, sessionRows)) : h('p', { class: 'muted' }, 'No one is logged in.'),
    h('h2', {}, 'Machine tokens'),
    !tokens.length ? h('p', { class: 'muted' }, 'No machine has a token.') : h('table', { id: 'tokens' }, h('thead', {}, h('tr', {}, ['#', 'User', 'Label', 'Only', 'Made', 'Expires', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, tokens.map((t) => h('tr', {}, h('td', {}, t.id), h('td', {}, t.username), h('td', {}, t.label),
        h('td', {}, t.only ? t.only.join(', ') : 'all of the user\'s'), h('td', {}, fmtTime(t.created_at_ms)), h('td', {}, fmtTime(t.expires_at_ms)),
        h('td', {}, t.revoked ? h('span', { class: 'muted' }, 'revoked')
          : action('Revoke', 'revoke-token', () => api('DELETE', `/api/v1/tokens/${t.id}`), result)))))),
    h('p', { class: 'muted' }, 'Users are added, scoped, disabled and given new passwords with the civitas command (civitas user …); every listing and change here is in the audit log.'));
}
