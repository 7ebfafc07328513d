// The watchlists page: enrolled entries with their legal basis, and the form
// that enrols a person under one.
import { h, fmtTime, api, errorBox } from '../core.js';
import { render } from '../router.js';

export async function watchlistPage() {
  const list = await api('GET', '/api/v1/watchlist');
  const now = Date.now();
  const flag = (ms) => (ms < now ? h('span', { class: 'flag-expired' }, 'expired — no longer matches')
    : ms - now < 7 * 86_400_000 ? h('span', { class: 'flag-soon' }, 'expires within 7 days') : 'active');
  const f = (name, label, attrs = {}) => [h('label', { for: `f-${name}` }, label), h('input', { id: `f-${name}`, name, required: true, ...attrs })];
  const msg = h('div', {});
  const form = h('form', { class: 'enrol', id: 'enrol', onsubmit: async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const file = fd.get('photo');
    try {
      if (!file || !file.size) throw new Error('choose a photo of the person');
      const photo = await new Promise((ok, fail) => {
        const r = new FileReader();
        r.onload = () => ok(String(r.result).split(',')[1] || '');
        r.onerror = () => fail(new Error('the photo could not be read'));
        r.readAsDataURL(file);
      });
      const body = Object.fromEntries([...fd.entries()].filter(([k]) => k !== 'photo'));
      body.scope = String(body.scope || '').split(',').map((s) => s.trim()).filter(Boolean);
      body.photo_base64 = photo;
      const out = await api('POST', '/api/v1/watchlist', body);
      msg.replaceChildren(h('div', { class: 'notice' }, `Enrolled as entry ${out.id}.`));
      setTimeout(render, 800);
    } catch (ex) { msg.replaceChildren(errorBox(ex)); }
  } },
    ...f('name', 'Name'),
    h('label', { for: 'f-photo' }, 'Photo'), h('input', { id: 'f-photo', name: 'photo', type: 'file', accept: 'image/jpeg,image/png', required: true }),
    h('label', { for: 'f-kind' }, 'Legal basis kind'),
    h('select', { id: 'f-kind', name: 'basis_kind', required: true }, ['court-order', 'judicial-warrant', 'missing-person-report', 'stolen-vehicle-report'].map((k) => h('option', { value: k }, k))),
    ...f('authority', 'Authorising body'),
    ...f('reference', 'Reference (case, warrant)'),
    ...f('purpose', 'Purpose'),
    ...f('expires', 'Expires (YYYY-MM-DD)', { pattern: '\\d{4}-\\d{2}-\\d{2}', placeholder: 'YYYY-MM-DD' }),
    ...f('scope', 'Cameras (comma-separated, * for all)', { value: '*' }),
    h('div', { class: 'full' }, h('button', { class: 'primary', type: 'submit' }, 'Enrol under this legal basis'),
      h('span', { class: 'muted' }, ' All legal-basis fields are required; the entry stops matching when the basis expires.')),
    h('div', { class: 'full' }, msg));
  return h('div', {},
    h('h1', {}, 'Watchlists'),
    h('table', { id: 'entries' }, h('thead', {}, h('tr', {}, ['Entry', 'Person or plate', 'Legal basis', 'Authority / reference', 'Purpose', 'Cameras', 'Expires', 'State'].map((t) => h('th', {}, t)))),
      h('tbody', {}, list.map((e) => h('tr', {},
        h('td', {}, e.id), h('td', {}, e.plate ? `${e.plate} · hotlist ${e.hotlist} · ${e.name}` : e.name), h('td', {}, e.basis.kind), h('td', {}, `${e.basis.authority} / ${e.basis.reference}`),
        h('td', {}, e.basis.purpose), h('td', {}, e.scope.join(', ')), h('td', {}, fmtTime(e.basis.expires_at_ms)),
        h('td', {}, e.basis.status === 'refused' ? h('span', { class: 'flag-expired' }, 'basis refused') : flag(e.basis.expires_at_ms)))))),
    h('h2', {}, 'Enrol a person'), form);
}
