// The audit log page: the signed tree head, verifying the whole log, and
// searching its entries.
import { h, fmtTime, api, errorBox } from '../core.js';

export async function auditPage() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '').get('q') || '';
  const [list, head] = await Promise.all([api('GET', `/api/v1/audit?limit=200&q=${encodeURIComponent(q)}`), api('GET', '/api/v1/audit/head')]);
  const input = h('input', { id: 'audit-q', value: q, placeholder: 'user, action or target (e.g. candidate.confirm)' });
  const result = h('div', { id: 'verify-result' });
  return h('div', {}, h('h1', {}, 'Audit log'),
    h('div', { class: 'panel' },
      h('h2', {}, 'Signed tree head'),
      head.head ? h('p', { class: 'head', id: 'tree-head' }, `size ${head.head.tree_size} · ${fmtTime(head.head.at_ms)} · root ${head.head.root} · Ed25519 key ${head.public_key}`) : h('p', {}, 'empty'),
      h('button', { id: 'verify', onclick: async () => {
        try {
          const v = await api('POST', '/api/v1/audit/verify');
          result.replaceChildren(v.ok ? h('div', { class: 'notice' }, `Verified: ${v.entries} entries, ${v.signed_heads} signed heads; the log is intact.`)
            : h('div', { class: 'error' }, `Verification FAILED: ${v.error}`));
        } catch (e) { result.replaceChildren(errorBox(e)); }
      } }, 'Verify the whole log now'), result),
    h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); location.hash = `#/audit?q=${encodeURIComponent(input.value)}`; } },
      input, h('button', { type: 'submit' }, 'Search')),
    h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, ['#', 'Time', 'Who', 'Action', 'Target', 'Why', 'Details'].map((t) => h('th', {}, t)))),
      h('tbody', {}, list.map((e) => h('tr', {}, h('td', {}, e.seq), h('td', {}, fmtTime(e.at_ms)), h('td', {}, e.actor), h('td', {}, e.action),
        h('td', {}, e.target), h('td', {}, e.justification), h('td', { class: 'muted' }, e.details))))));
}
