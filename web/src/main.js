// Civitas command centre: one page, hash routes, no framework. Every piece
// of data comes from the API of the binary that serves this file; nothing is
// loaded from anywhere else. Text from the server is always inserted as text
// (never as HTML).
import { drawMap } from './map.js';

const state = { me: null, csrf: null, cameras: [], live: [], queue: [], selected: 0, es: null, notes: {}, decided: [], incidents: [], units: [], types: [], seen: {} };

// ---- helpers -----------------------------------------------------------------
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '—');
const can = (p) => !!state.me && state.me.permissions.includes(p);

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!r.ok) {
    if (r.status === 401 && path !== '/api/v1/session') { state.me = null; render(); }
    throw new ApiError(r.status, data);
  }
  return data;
}

function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, e.status ? `Refused (${e.status}): ${e.message}` : String(e.message || e));
}

// ---- live events -------------------------------------------------------------
function connectLive() {
  if (state.es) state.es.close();
  const es = new EventSource('/api/v1/events');
  state.es = es;
  es.addEventListener('candidate', (m) => {
    const d = JSON.parse(m.data);
    state.live.unshift({ kind: 'candidate', at: Date.now(), ...d });
    state.live = state.live.slice(0, 50);
    onLive('candidate', d);
  });
  es.addEventListener('review', (m) => onLive('review', JSON.parse(m.data)));
  es.addEventListener('camera', (m) => {
    const d = JSON.parse(m.data);
    const c = state.cameras.find((x) => x.id === d.id);
    if (c) Object.assign(c, d);
    onLive('camera', d);
  });
  es.addEventListener('incident', (m) => {
    const d = JSON.parse(m.data);
    state.seen[d.id] = Date.now();
    onLive('incident', d);
  });
  es.addEventListener('unit', (m) => onLive('unit', JSON.parse(m.data)));
  es.addEventListener('lagged', () => render());
}

function onLive(kind, d) {
  const page = currentPage().split('?')[0];
  if (page === 'review' && (kind === 'candidate' || kind === 'review')) loadQueue().then(drawReview);
  else if (page === 'incidents' && (kind === 'incident' || kind === 'unit')) drawIncidentList();
  else if (page === 'incident' && (kind === 'incident' || kind === 'unit')) {
    const id = Number(hashParams().get('id'));
    if (kind === 'unit' || d.id === id) render();
  } else if (page === 'map' || page === 'cameras') render();
  updateBadge();
}

const hashParams = () => new URLSearchParams(location.hash.split('?')[1] || '');

function updateBadge() {
  const b = document.querySelector('#queue-count');
  if (b) b.textContent = state.queue.length ? String(state.queue.length) : '';
  if (b) b.style.display = state.queue.length ? '' : 'none';
}

// ---- pages -------------------------------------------------------------------
const PAGES = [
  ['map', 'Map', 'view_cameras'],
  ['incidents', 'Incidents', 'dispatch'],
  ['review', 'Review', 'view_candidates'],
  ['search', 'Search', 'search'],
  ['watchlist', 'Watchlists', 'enroll'],
  ['cameras', 'Cameras', 'view_cameras'],
  ['audit', 'Audit', 'read_audit'],
  ['report', 'Transparency', 'report'],
];
const currentPage = () => (location.hash.replace(/^#\/?/, '') || defaultPage());
const defaultPage = () => (PAGES.find(([, , p]) => can(p)) || ['audit'])[0];

function loginPage(err) {
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

function shell(content) {
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

async function mapPage() {
  state.cameras = await api('GET', '/api/v1/cameras');
  if (can('dispatch')) {
    [state.units, state.incidents] = await Promise.all([api('GET', '/api/v1/units'), api('GET', '/api/v1/incidents')]);
  }
  const recent = state.live.filter((e) => e.kind === 'candidate').slice(0, 20);
  const hot = new Set(recent.filter((e) => Date.now() - e.at < 5 * 60_000).map((e) => e.camera));
  const extras = { minSpan: 0.08, ...(can('dispatch') ? { units: state.units, incidents: state.incidents } : {}) };
  return h('div', { class: 'grid' },
    h('div', { class: 'panel map' }, h('h1', {}, 'Camera map'), drawMap(state.cameras, hot, extras),
      h('p', { class: 'muted' }, 'Boundaries: Natural Earth via the world-atlas package (offline). Cameras (dots): green online, amber degraded or connecting, red offline, grey stopped; a red ring marks a camera with a candidate in the last five minutes.',
        can('dispatch') ? ' Units are squares (green available, blue dispatched, amber on scene, grey out of service); open incidents are red diamonds.' : '')),
    h('div', { class: 'panel events' }, h('h2', {}, 'Live candidates'),
      recent.length ? h('ul', { id: 'live-list' }, recent.map((e) => h('li', {},
        h('a', { href: '#/review' }, `#${e.id}`), ` ${e.entry_name} on ${e.camera} `, h('span', { class: 'muted' }, fmtTime(e.frame_time_ms)))))
        : h('p', { class: 'muted', id: 'live-list' }, 'None since this page opened. New candidates appear here as cameras raise them.')));
}

async function loadQueue() {
  state.queue = await api('GET', '/api/v1/candidates?status=candidate&limit=100');
  if (state.selected >= state.queue.length) state.selected = Math.max(0, state.queue.length - 1);
  updateBadge();
  return state.queue;
}

function candidateCard(c, i) {
  const reason = h('input', { placeholder: 'Reason (required to reject)', 'aria-label': 'reason', class: 'reason' });
  const note = state.notes[c.id];
  const msg = h('div', {}, note ? h('div', { class: note.cls, role: note.cls === 'error' ? 'alert' : 'status' }, note.text) : null);
  const mine = c.reviews.find((r) => r.username === state.me.username);
  const confirms = c.reviews.filter((r) => r.decision === 'confirm').length;
  const required = c.kind === 'plate' ? 1 : 2;
  const expired = c.basis.expires_at_ms < Date.now();
  const act = async (decision) => {
    try {
      const out = await api('POST', `/api/v1/candidates/${c.id}/review`, { decision, reason: reason.value });
      if (out.status === 'candidate') {
        state.notes[c.id] = { cls: 'notice', text: `Confirmation recorded (${out.confirmations} of ${out.required}). A second, different person must also confirm.` };
      } else {
        delete state.notes[c.id];
        state.decided.unshift({ id: c.id, status: out.status, text: `Candidate ${c.id} (${c.entry_name}) is now ${out.status} (${out.confirmations} of ${out.required} confirmations).` });
        state.decided = state.decided.slice(0, 5);
      }
    } catch (e) {
      state.notes[c.id] = { cls: 'error', text: e.status ? `Refused (${e.status}): ${e.message}` : String(e.message || e) };
    }
    await loadQueue();
    drawReview();
  };
  const plate = c.kind === 'plate';
  const evidence = plate
    ? [h('figure', { class: 'plate' }, h('img', { src: `/api/v1/candidates/${c.id}/crop`, alt: 'plate seen by the camera' }), h('figcaption', {}, 'Plate seen by camera')),
      h('figure', { class: 'plate listed' }, h('div', { class: 'plate-text' }, c.plate), h('figcaption', {}, `Listed on hotlist ${c.hotlist}`))]
    : [h('figure', {}, h('img', { src: `/api/v1/candidates/${c.id}/crop`, alt: 'face seen by the camera' }), h('figcaption', {}, 'Seen by camera')),
      h('figure', {}, h('img', { src: `/api/v1/candidates/${c.id}/entry-photo`, alt: 'enrolled photo' }), h('figcaption', {}, 'Enrolled photo'))];
  return h('article', { class: `card${i === state.selected ? ' selected' : ''}`, 'data-id': c.id, id: `cand-${c.id}` },
    ...evidence,
    h('div', {},
      h('h2', {}, `#${c.id} · ${c.entry_name} `, h('span', { class: `pill ${c.status}` }, c.status)),
      h('dl', {},
        ...(plate
          ? [h('dt', {}, 'Plate read'), h('dd', { class: 'read' }, `${c.read_text} (listed ${c.plate}; confidence ${c.detector_score.toFixed(2)})`),
            h('dt', {}, 'Distance'), h('dd', {}, `${c.distance.toFixed(2)} (0.25 per OCR confusion such as 0/O, 1 per other difference; the hotlist sets the limit)`)]
          : [h('dt', {}, 'Distance'), h('dd', {}, `${c.distance.toFixed(3)} (lower is closer; threshold set per deployment)`)]),
        h('dt', {}, 'Camera'), h('dd', {}, c.camera),
        h('dt', {}, 'Seen at'), h('dd', {}, fmtTime(c.frame_time_ms)),
        h('dt', {}, 'Legal basis'), h('dd', {}, `${c.basis.kind} — ${c.basis.authority}, ref. ${c.basis.reference}`),
        h('dt', {}, 'Purpose'), h('dd', {}, c.basis.purpose),
        h('dt', {}, 'Basis expires'), h('dd', { class: expired ? 'flag-expired' : '' }, fmtTime(c.basis.expires_at_ms), expired ? ' (expired)' : ''),
        h('dt', {}, 'Reviews'), h('dd', { class: 'reviews' }, c.reviews.length ? c.reviews.map((r) => `${r.decision} by ${r.username}`).join('; ') : 'none yet')),
      can('dispatch') ? h('p', { class: 'muted small' }, 'Only a confirmed ', plate ? 'plate hit' : 'match', ' can open an incident that dispatches units',
        plate ? '.' : ' (two different people must confirm it). ', h('a', { href: `#/incidents?candidate=${c.id}`, class: 'try-incident' }, 'Open incident…')) : null,
      h('p', { class: 'rule' }, plate
        ? `Plate hits: ${confirms} of ${required} confirmation. Check the plate in the picture against the listed plate before confirming; one rejection rejects it.`
        : `Two-person rule: ${confirms} of ${required} confirmations. A match stays a candidate until ${required} different people confirm it; one rejection rejects it.`),
      h('div', { class: 'actions' },
        h('button', { class: 'primary confirm', disabled: !can('confirm') || !!mine, onclick: () => act('confirm'), title: 'c' }, mine ? `You ${mine.decision}ed` : 'Confirm'),
        reason,
        h('button', { class: 'danger reject', disabled: !can('confirm') || !!mine, onclick: () => act('reject'), title: 'r' }, 'Reject')),
      msg));
}

function drawReview() {
  const page = document.querySelector('#page');
  if (!page || currentPage() !== 'review') return;
  page.replaceChildren(reviewBody());
}

function reviewBody() {
  return h('div', {},
    h('h1', {}, 'Review queue'),
    h('div', { id: 'decided' }, state.decided.map((d) => h('div', { class: 'notice' }, d.text,
      d.status === 'confirmed' && can('dispatch') ? [' ', h('a', { href: `#/incidents?candidate=${d.id}`, class: 'open-incident', id: `open-incident-${d.id}` }, 'Open an incident from this match')] : null))),
    h('p', { class: 'keys' }, 'Keys: ', h('kbd', {}, 'j'), '/', h('kbd', {}, 'k'), ' next/previous, ', h('kbd', {}, 'c'), ' confirm, ', h('kbd', {}, 'r'), ' reject (type the reason first). New candidates arrive live.'),
    state.queue.length
      ? h('div', { class: 'cards', id: 'queue' }, state.queue.map(candidateCard))
      : h('p', { class: 'muted', id: 'queue' }, 'Nothing awaits review.'));
}

async function reviewPage() {
  await loadQueue();
  return reviewBody();
}

document.addEventListener('keydown', (e) => {
  if (currentPage() !== 'review' || e.target.tagName === 'INPUT' && e.key !== 'Enter') return;
  const cards = [...document.querySelectorAll('.card')];
  if (!cards.length) return;
  if (e.key === 'j' || e.key === 'k') {
    state.selected = Math.min(cards.length - 1, Math.max(0, state.selected + (e.key === 'j' ? 1 : -1)));
    cards.forEach((c, i) => c.classList.toggle('selected', i === state.selected));
    cards[state.selected].scrollIntoView({ block: 'nearest' });
  } else if (e.key === 'c') cards[state.selected].querySelector('.confirm').click();
  else if (e.key === 'r') cards[state.selected].querySelector('.reject').click();
});

async function watchlistPage() {
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

async function camerasPage() {
  state.cameras = await api('GET', '/api/v1/cameras');
  return h('div', {}, h('h1', {}, 'Cameras'),
    h('table', { id: 'cameras' }, h('thead', {}, h('tr', {}, ['Camera', 'Name', 'Health', 'Last error', 'Reconnects', 'Frames', 'Candidates', 'Purpose', 'Owner', 'Source', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, state.cameras.map((c) => h('tr', {},
        h('td', {}, c.id), h('td', {}, c.name), h('td', {}, h('span', { class: `pill ${c.state}` }, c.state)),
        h('td', {}, c.last_error || '—'), h('td', {}, c.reconnects), h('td', {}, c.frames), h('td', {}, c.candidates),
        h('td', {}, c.purpose), h('td', {}, c.owner), h('td', { class: 'muted' }, c.source),
        h('td', {}, can('dispatch') ? h('a', { href: `#/incidents?camera=${encodeURIComponent(c.id)}`, class: 'open-incident' }, 'Open incident here') : null))))));
}

async function auditPage() {
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

async function reportPage() {
  const r = await api('GET', '/api/v1/report');
  const table = (obj) => h('table', {}, h('tbody', {}, Object.keys(obj).length
    ? Object.entries(obj).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v))) : h('tr', {}, h('td', {}, 'none'))));
  const c = r.counts;
  return h('div', { id: 'report' }, h('h1', {}, 'Transparency report'),
    h('p', { class: 'muted' }, `Period ${r.period.from} to ${r.period.to}. Counts only; nothing here identifies a person.`),
    h('div', { class: 'grid' },
      h('div', { class: 'panel' }, h('h2', {}, 'Outcomes'), table({
        'Candidates raised': c.candidates_raised, 'Confirmed by two people': c.confirmed, Rejected: c.rejected,
        'Expired unreviewed': c.expired_unreviewed, 'Deleted by retention': c.retention_deleted,
        'Legal bases refused': c.bases_refused, 'Failed logins': c.logins_failed }),
        h('h2', {}, 'Active entries by legal basis'), table(c.active_entries_by_basis_kind),
        h('h2', {}, 'Rejection reasons'), table(c.rejection_reasons),
        h('h2', {}, 'Incidents opened, by source'), table(c.incidents_opened_by_source),
        h('h2', {}, 'Incidents closed, by reason'), table(c.incidents_closed_by_reason),
        table({ 'Units dispatched': c.units_dispatched, 'Cameras viewed through an incident': c.incident_camera_views }),
        h('h2', {}, 'Evidence'), table({ 'Bundles exported': c.evidence_exports, 'Recordings played': c.recordings_played })),
      h('div', { class: 'panel' }, h('h2', {}, 'Actions in the audit log'), table(c.actions))));
}

// ---- incidents -----------------------------------------------------------------
const ago = (ms) => { const m = Math.round((Date.now() - ms) / 60_000); return m < 1 ? 'just now' : m < 60 ? `${m} min ago` : `${Math.floor(m / 60)} h ${m % 60} min ago`; };
const statusLabel = (s) => s.replace('_', ' ');

function incidentRow(i) {
  const fresh = state.seen[i.id] && Date.now() - state.seen[i.id] < 10_000;
  return h('tr', { id: `inc-${i.id}`, class: fresh ? 'fresh' : '' },
    h('td', {}, h('a', { href: `#/incident?id=${i.id}` }, `#${i.id}`)),
    h('td', {}, h('span', { class: `prio p${i.priority}` }, `P${i.priority}`)),
    h('td', {}, i.type_label), h('td', {}, h('span', { class: `pill st-${i.status}` }, statusLabel(i.status))),
    h('td', {}, i.address || `${i.latitude.toFixed(4)}, ${i.longitude.toFixed(4)}`),
    h('td', {}, i.units.join(', ') || '—'), h('td', {}, i.source, i.camera ? ` (${i.camera})` : ''),
    h('td', { class: 'muted' }, ago(i.opened_at_ms)));
}

async function drawIncidentList() {
  const box = document.querySelector('#incident-list');
  if (!box) return;
  try {
    state.incidents = await api('GET', '/api/v1/incidents');
    box.replaceChildren(state.incidents.length
      ? h('table', { id: 'incidents' }, h('thead', {}, h('tr', {}, ['#', 'Priority', 'Type', 'Status', 'Where', 'Units', 'Source', 'Opened'].map((t) => h('th', {}, t)))),
        h('tbody', {}, state.incidents.map(incidentRow)))
      : h('p', { class: 'muted', id: 'incidents' }, 'No open incidents.'));
  } catch (e) { box.replaceChildren(errorBox(e)); }
}

async function incidentsPage() {
  const q = hashParams();
  const candidate = q.get('candidate');
  const camera = q.get('camera');
  const [types, integrations] = await Promise.all([api('GET', '/api/v1/incident-types'), api('GET', '/api/v1/integrations')]);
  state.types = types;
  const msg = h('div', { id: 'open-result' });
  const typeSel = h('select', { id: 'i-type', name: 'type', required: true },
    types.map((t) => h('option', { value: t.id }, `${t.label} (P${t.priority})`)));
  const prio = h('select', { id: 'i-priority', name: 'priority' }, [1, 2, 3, 4, 5].map((p) => h('option', { value: p }, `P${p}${p === 1 ? ' (most urgent)' : ''}`)));
  const syncPrio = () => { const t = types.find((x) => x.id === typeSel.value); if (t) prio.value = String(t.priority); };
  typeSel.addEventListener('change', syncPrio);
  if (candidate) { const plateType = types.find((t) => t.id === 'stolen-vehicle'); if (plateType) typeSel.value = plateType.id; }
  syncPrio();
  const f = (name, label, attrs = {}) => [h('label', { for: `i-${name}` }, label), h('input', { id: `i-${name}`, name, ...attrs })];
  const fromWhat = candidate ? `From confirmed candidate #${candidate}: the location is its camera's.`
    : camera ? `From camera ${camera}: the location is the camera's.` : null;
  const form = h('form', { class: 'enrol', id: 'open-incident', onsubmit: async (e) => {
    e.preventDefault();
    const fd = Object.fromEntries(new FormData(form).entries());
    const body = { type: fd.type, priority: Number(fd.priority), address: fd.address || '', caller_name: fd.caller_name || '', caller_phone: fd.caller_phone || '', notes: fd.notes || '' };
    if (fd.latitude || fd.longitude) { body.latitude = Number(fd.latitude); body.longitude = Number(fd.longitude); }
    if (candidate) body.candidate = Number(candidate);
    if (camera) body.camera = camera;
    try {
      const inc = await api('POST', '/api/v1/incidents', body);
      location.hash = `#/incident?id=${inc.id}`;
    } catch (ex) { msg.replaceChildren(errorBox(ex)); }
  } },
    fromWhat ? h('div', { class: 'full notice', id: 'open-from' }, fromWhat) : null,
    h('label', { for: 'i-type' }, 'Type'), typeSel,
    h('label', { for: 'i-priority' }, 'Priority'), prio,
    ...(candidate || camera ? [] : [
      ...f('latitude', 'Latitude', { required: true, inputmode: 'decimal', placeholder: 'e.g. -0.2202' }),
      ...f('longitude', 'Longitude', { required: true, inputmode: 'decimal', placeholder: 'e.g. -78.5123' })]),
    ...f('address', 'Address or landmark'),
    ...(candidate ? [] : [...f('caller_name', 'Caller'), ...f('caller_phone', 'Call-back number', { type: 'tel' })]),
    h('label', { for: 'i-notes' }, 'Notes'), h('textarea', { id: 'i-notes', name: 'notes', rows: 3 }),
    h('div', { class: 'full' }, h('button', { class: 'primary', type: 'submit' }, 'Open incident'),
      h('span', { class: 'muted' }, ' Opening is recorded in the audit log; the procedure for the type appears on the incident.')),
    h('div', { class: 'full' }, msg));
  const hooks = integrations.length
    ? h('table', { id: 'integrations' }, h('thead', {}, h('tr', {}, ['Webhook', 'Pending', 'Delivered', 'Failed attempts', 'Last error'].map((t) => h('th', {}, t)))),
      h('tbody', {}, integrations.map((d) => h('tr', { class: d.attempts ? 'failing' : '' }, h('td', {}, d.destination), h('td', {}, d.pending),
        h('td', {}, d.delivered_total), h('td', {}, d.retries_total),
        h('td', { class: d.attempts ? 'flag-expired' : 'muted' }, d.last_error ? `${d.last_error} (${d.attempts} attempt(s) so far, ${fmtTime(d.last_attempt_ms)})` : 'none')))))
    : h('p', { class: 'muted' }, 'No webhooks configured ([[webhook]] in the config).');
  const page = h('div', { class: 'grid wide' },
    h('div', {}, h('h1', {}, 'Incidents'), h('div', { id: 'incident-list' }, h('p', { class: 'muted' }, 'Loading…')),
      h('h2', {}, 'Integrations'), hooks),
    h('div', { class: 'panel' }, h('h2', {}, candidate || camera ? 'Open an incident' : 'New incident from a call'), form));
  setTimeout(drawIncidentList, 0);
  return page;
}

async function incidentPage() {
  const id = Number(hashParams().get('id'));
  const [inc, units, near] = await Promise.all([api('GET', `/api/v1/incidents/${id}`), api('GET', '/api/v1/units'), api('GET', `/api/v1/incidents/${id}/cameras`)]);
  const msg = h('div', { id: 'incident-msg' });
  const act = async (method, path, body) => {
    try { await api(method, path, body); await render(); } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  const closed = inc.status === 'closed';
  const next = { new: [], dispatched: [['on_scene', 'Mark on scene']], on_scene: [], closed: [] }[inc.status];
  const reason = h('select', { id: 'close-reason', 'aria-label': 'closing reason' },
    ['resolved', 'false_alarm', 'duplicate', 'cancelled', 'referred'].map((r) => h('option', { value: r }, statusLabel(r))));
  const note = h('input', { id: 'status-note', placeholder: 'Note for the timeline (optional)' });
  const available = units.filter((u) => u.status === 'available');
  const unitSel = h('select', { id: 'unit-select', 'aria-label': 'unit to dispatch' },
    available.map((u) => h('option', { value: u.id }, `${u.id} — ${u.name} (${u.kind})`)));
  const noteText = h('input', { id: 'note-text', placeholder: 'Add a note' });
  const viewer = h('figure', { id: 'camera-view' });
  const mine = units.filter((u) => u.incident_id === id);
  return h('div', { id: 'incident', 'data-id': id },
    h('p', {}, h('a', { href: '#/incidents' }, '← Incidents')),
    h('h1', {}, `#${inc.id} · ${inc.type_label} `, h('span', { class: `prio p${inc.priority}` }, `P${inc.priority}`), ' ',
      h('span', { class: `pill st-${inc.status}`, id: 'incident-status' }, statusLabel(inc.status)),
      inc.close_reason ? h('span', { class: 'muted' }, ` (${statusLabel(inc.close_reason)})`) : null),
    msg,
    h('div', { class: 'grid wide' },
      h('div', {},
        h('div', { class: 'panel' },
          h('dl', { class: 'facts' },
            h('dt', {}, 'Where'), h('dd', {}, inc.address || '—', h('span', { class: 'muted' }, ` (${inc.latitude.toFixed(5)}, ${inc.longitude.toFixed(5)})`)),
            h('dt', {}, 'Opened'), h('dd', {}, `${fmtTime(inc.opened_at_ms)} by ${inc.opened_by}, ${inc.source}${inc.camera ? ' on camera ' + inc.camera : ''}`),
            inc.caller_name || inc.caller_phone ? [h('dt', {}, 'Caller'), h('dd', {}, `${inc.caller_name} ${inc.caller_phone}`)] : null,
            inc.notes ? [h('dt', {}, 'Notes'), h('dd', {}, inc.notes)] : null,
            inc.links.length ? [h('dt', {}, 'Linked'), h('dd', { id: 'links' }, inc.links.map((l) => `${l.kind.replace('_', ' ')} ${l.ref_id}`).join(', '))] : null),
          closed ? null : h('div', { class: 'actions', id: 'transitions' },
            next.map(([to, label]) => h('button', { class: 'primary', id: `to-${to}`, onclick: () => act('POST', `/api/v1/incidents/${id}/status`, { status: to, note: note.value }) }, label)),
            note,
            reason, h('button', { class: 'danger', id: 'close', onclick: () => act('POST', `/api/v1/incidents/${id}/status`, { status: 'closed', reason: reason.value, note: note.value }) }, 'Close incident'))),
        h('div', { class: 'panel' }, h('h2', {}, 'Units'),
          h('ul', { id: 'assigned' }, mine.length ? mine.map((u) => h('li', {}, h('strong', {}, u.id), ` ${u.name} — ${statusLabel(u.status)} `,
            closed ? null : h('button', { class: 'release', onclick: () => act('DELETE', `/api/v1/incidents/${id}/units/${encodeURIComponent(u.id)}`) }, 'Release'))) : h('li', { class: 'muted' }, 'none assigned')),
          closed ? null : h('div', { class: 'actions' }, unitSel,
            h('button', { class: 'primary', id: 'dispatch', disabled: !available.length, onclick: () => act('POST', `/api/v1/incidents/${id}/units`, { unit: unitSel.value }) }, 'Dispatch'),
            available.length ? null : h('span', { class: 'muted' }, 'No unit is available.'))),
        h('div', { class: 'panel' }, h('h2', {}, 'Procedure'),
          inc.sop.length ? h('ol', { id: 'sop' }, inc.sop.map((s) => h('li', { class: s.ticked_by ? 'done' : '' },
            h('button', { class: 'tick', disabled: closed || !!s.ticked_by, 'aria-label': `tick step ${s.step}`, onclick: () => act('POST', `/api/v1/incidents/${id}/sop/${s.step}`) }, s.ticked_by ? '✓' : '○'),
            ` ${s.text}`, s.ticked_by ? h('span', { class: 'muted' }, ` — ${s.ticked_by}, ${fmtTime(s.ticked_at_ms)}`) : null)))
            : h('p', { class: 'muted' }, 'This type has no procedure.')),
        h('div', { class: 'panel' }, h('h2', {}, 'Timeline'),
          h('ul', { id: 'timeline' }, inc.timeline.map((t) => h('li', {}, h('span', { class: 'muted' }, `${fmtTime(t.at_ms)} · ${t.actor} · `), t.text))),
          closed ? null : h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); act('POST', `/api/v1/incidents/${id}/notes`, { text: noteText.value }); } },
            noteText, h('button', { type: 'submit' }, 'Add note')))),
      h('div', {},
        h('div', { class: 'panel map small' }, drawMap(near.map((n) => n.camera), new Set(), { units, incidents: [inc], minSpan: 0.012, size: 2.4, fitUnits: false })),
        h('div', { class: 'panel' }, h('h2', {}, 'Cameras near the incident'),
          near.length ? h('ul', { id: 'nearby' }, near.map((n) => h('li', {}, h('strong', {}, n.camera.id), ` ${n.camera.name} — ${Math.round(n.distance_m)} m, ${n.camera.state} `,
            closed ? null : h('button', { class: 'view-camera', 'data-camera': n.camera.id, onclick: () => {
              viewer.replaceChildren(h('img', { src: `/api/v1/incidents/${id}/cameras/${encodeURIComponent(n.camera.id)}/frame?t=${Date.now()}`, alt: `latest picture from ${n.camera.id}` }),
                h('figcaption', {}, `${n.camera.id}, latest picture; this view is recorded against incident ${id}.`));
            } }, 'View'))))
            : h('p', { class: 'muted', id: 'nearby' }, 'No camera within the radius.'),
          viewer))));
}

// ---- forensic search -------------------------------------------------------------
const toLocal = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
const fromLocal = (v) => new Date(v).getTime();

function timeline(from, to, items) {
  const W = 1000, H = 40, SVGNS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('preserveAspectRatio', 'none'); svg.setAttribute('id', 'search-timeline'); svg.setAttribute('class', 'timeline');
  const line = document.createElementNS(SVGNS, 'line');
  Object.entries({ x1: 0, x2: W, y1: H / 2, y2: H / 2, class: 'axis' }).forEach(([k, v]) => line.setAttribute(k, v));
  svg.append(line);
  for (const it of items) {
    const x = ((it.at - from) / Math.max(1, to - from)) * W;
    const tick = document.createElementNS(SVGNS, 'rect');
    Object.entries({ x: x - 2, y: 6, width: 4, height: H - 12, class: it.hit ? 'tick hit' : 'tick' }).forEach(([k, v]) => tick.setAttribute(k, v));
    const t = document.createElementNS(SVGNS, 'title'); t.textContent = `${it.label} — ${fmtTime(it.at)}`; tick.append(t);
    svg.append(tick);
  }
  return svg;
}

// The recorded clip around a result, one click away: the recording of the
// camera covering `at`, played from the server with range requests (the
// start of playback is audited; a clip retention deleted says when and why).
function clipButton(camera, at, why, until = at) {
  const box = h('div', { class: 'clip' });
  const btn = h('button', { class: 'play', type: 'button', onclick: async () => {
    btn.disabled = true;
    try {
      const q = new URLSearchParams({ camera, from_ms: at - 1, to_ms: until + 1, justification: why, limit: 5 });
      const recs = await api('GET', `/api/v1/recordings?${q}`);
      // The oldest playable recording overlapping the moment (newest first from the server).
      const rec = recs.filter((r) => r.state !== 'deleted' && r.state !== 'lost').pop();
      if (!rec) {
        const gone = recs.find((r) => r.state === 'deleted');
        box.replaceChildren(h('p', { class: 'muted small clip-none' }, gone
          ? `The clip was deleted by retention (${gone.deleted_reason}) on ${fmtTime(gone.deleted_at_ms)}.`
          : 'No recording covers this moment (the camera is not recorded, or the file was lost).'));
        return;
      }
      const offset = Math.max(0, (Math.max(at, rec.start_ms) - rec.start_ms) / 1000 - 2);
      const video = h('video', { class: 'player', controls: true, muted: true, preload: 'auto', 'data-recording': rec.id, src: `/api/v1/recordings/${rec.id}/media#t=${offset.toFixed(1)}` });
      video.addEventListener('error', () => box.append(h('p', { class: 'error small' }, `recording ${rec.id} could not be played`)));
      box.replaceChildren(video, h('div', { class: 'muted small' }, `recording ${rec.id} · ${rec.camera} · ${fmtTime(rec.start_ms)} – ${fmtTime(rec.end_ms)} · ${rec.kind}${rec.state === 'recovered' ? ' · recovered after an interruption' : ''}`));
      video.play().catch(() => {});
    } catch (ex) { box.replaceChildren(errorBox(ex)); }
  } }, '▶ Play clip');
  box.append(btn);
  return box;
}

// Evidence export of a confirmed match: a background job (blurring takes a
// while) followed here until its bundle can be downloaded.
function exportBox(candidate, why) {
  if (!can('export')) return null;
  const box = h('div', { class: 'export', 'data-export-for': candidate });
  const plates = h('input', { type: 'checkbox', id: `blur-plates-${candidate}` });
  const btn = h('button', { type: 'button', class: 'export-start', onclick: async () => {
    btn.disabled = true;
    try {
      let job = await api('POST', '/api/v1/evidence', { candidate, justification: why, blur_plates: plates.checked });
      const bar = h('progress', { max: 1, value: 0 });
      const line = h('span', { class: 'muted small' }, ' blurring…');
      box.replaceChildren(bar, line);
      while (job.state === 'running') {
        await new Promise((r) => setTimeout(r, 700));
        job = await api('GET', `/api/v1/evidence/${job.id}`);
        bar.max = Math.max(1, job.frames_total); bar.value = job.frames_done;
        line.textContent = ` blurring ${job.frames_done} of about ${job.frames_total} frames`;
      }
      if (job.state === 'failed') { box.replaceChildren(h('div', { class: 'error', role: 'alert' }, `Export failed: ${job.error}`)); return; }
      const s = job.summary || {};
      box.replaceChildren(h('div', { class: 'export-done', role: 'status' },
        `Bundle ${job.bundle}: ${s.clips} clip(s), ${s.frames} frames, ${s.faces_blurred} face(s) blurred, ${s.subject_faces_kept} of the subject kept, ${s.plates_blurred} plate(s) blurred, ${s.audit_entries} audit entries with proofs. `,
        h('a', { href: `/api/v1/evidence/${job.id}/bundle`, class: 'download', download: `${job.bundle}.tar` }, 'Download bundle (.tar)'),
        h('div', { class: 'muted small' }, `Check it anywhere: tar xf ${job.bundle}.tar && civitas evidence verify ${job.bundle}`)));
    } catch (ex) { btn.disabled = false; box.append(errorBox(ex)); }
  } }, 'Export evidence');
  box.append(btn, ' ', h('label', { for: `blur-plates-${candidate}`, class: 'small' }, plates, ' also blur other plates'));
  return box;
}

async function searchPage() {
  const cams = await api('GET', '/api/v1/cameras').catch(() => []);
  const now = Date.now();
  const results = h('div', { id: 'search-results' });
  const kind = h('select', { id: 's-kind', name: 'kind' }, h('option', { value: 'plates' }, 'Plate reads'), h('option', { value: 'matches' }, 'Confirmed matches'), h('option', { value: 'events' }, 'Camera events'));
  const text = h('input', { id: 's-text', name: 'text', required: true, placeholder: 'plate, ? for an unknown character (e.g. GY?0?77)' });
  const hints = { plates: 'plate, ? for an unknown character (e.g. GY?0?77)', matches: 'part of the listed name or plate', events: 'offline, degraded, failed, stopped, online, connecting (empty: all)' };
  kind.addEventListener('change', () => { text.placeholder = hints[kind.value]; text.required = kind.value !== 'events'; });
  const from = h('input', { id: 's-from', type: 'datetime-local', value: toLocal(now - 86_400_000), required: true });
  const to = h('input', { id: 's-to', type: 'datetime-local', value: toLocal(now + 60_000), required: true });
  const cam = h('select', { id: 's-camera' }, h('option', { value: '' }, 'all my cameras'), cams.map((c) => h('option', { value: c.id }, `${c.id} — ${c.name}`)));
  const why = h('input', { id: 's-why', required: true, placeholder: 'case or incident reference (recorded in the audit log)' });
  const form = h('form', { class: 'enrol', id: 'search-form', onsubmit: async (e) => {
    e.preventDefault();
    const f = fromLocal(from.value), t = fromLocal(to.value);
    const q = new URLSearchParams({ justification: why.value, from_ms: f, to_ms: t, limit: 200 });
    if (cam.value) q.set('camera', cam.value);
    try {
      let items;
      if (kind.value === 'plates') {
        q.set('pattern', text.value);
        const reads = await api('GET', `/api/v1/plates?${q}`);
        items = reads.map((r) => ({ at: r.first_seen_ms, hit: r.hit_entry != null, label: r.plate,
          card: h('article', { class: 'result', 'data-read': r.id },
            h('img', { src: `/api/v1/plates/${r.id}/crop`, alt: `plate ${r.plate}` }),
            h('div', {}, h('strong', { class: 'plate-read' }, r.plate), r.hit_entry != null ? h('span', { class: 'pill candidate' }, 'hotlist hit') : null,
              h('div', { class: 'muted' }, `${r.camera} · ${fmtTime(r.first_seen_ms)} · ${r.frames} frame(s), confidence ${r.confidence.toFixed(2)}${r.format ? ' · format ' + r.format : ''}`),
              h('div', { class: 'muted small' }, `kept until ${fmtTime(r.expires_at_ms)}`),
              clipButton(r.camera, r.first_seen_ms, why.value, r.last_seen_ms))) }));
      } else if (kind.value === 'events') {
        if (text.value.trim()) q.set('kind', text.value.trim());
        const events = await api('GET', `/api/v1/camera-events?${q}`);
        items = events.map((ev) => ({ at: ev.at_ms, hit: ev.kind === 'offline' || ev.kind === 'failed', label: `${ev.camera} ${ev.kind}`,
          card: h('article', { class: 'result', 'data-event': ev.id },
            h('div', {}, h('span', { class: `pill ${ev.kind}` }, ev.kind), ' ', h('strong', {}, ev.camera),
              h('div', { class: 'muted' }, fmtTime(ev.at_ms)), ev.detail ? h('div', { class: 'small' }, ev.detail) : null)) }));
      } else {
        q.set('name', text.value);
        const found = await api('GET', `/api/v1/matches?${q}`);
        items = found.map((c) => ({ at: c.frame_time_ms, hit: true, label: c.entry_name,
          card: h('article', { class: 'result', 'data-candidate': c.id },
            h('img', { src: `/api/v1/candidates/${c.id}/crop`, alt: `confirmed match ${c.id}` }),
            h('div', {}, h('strong', {}, `#${c.id} · ${c.entry_name}`), c.plate ? ` (plate ${c.read_text})` : '',
              h('div', { class: 'muted' }, `${c.camera} · ${fmtTime(c.frame_time_ms)} · confirmed by ${c.reviews.filter((r) => r.decision === 'confirm').map((r) => r.username).join(' and ')}`),
              h('div', { class: 'muted small' }, `${c.basis.kind} — ${c.basis.authority}, ref. ${c.basis.reference}`),
              clipButton(c.camera, c.frame_time_ms, why.value),
              exportBox(c.id, why.value))) }));
      }
      results.replaceChildren(
        h('p', { id: 'search-count' }, `${items.length} result(s) between ${fmtTime(f)} and ${fmtTime(t)}. This search is recorded in the audit log with its justification.`),
        timeline(f, t, items),
        items.length ? h('div', { class: 'results' }, items.map((i) => i.card)) : h('p', { class: 'muted' }, 'Nothing found.'));
    } catch (ex) { results.replaceChildren(errorBox(ex)); }
  } },
    h('label', { for: 's-kind' }, 'Search'), kind,
    h('label', { for: 's-text' }, 'Plate, name or event'), text,
    h('label', { for: 's-from' }, 'From'), from,
    h('label', { for: 's-to' }, 'To'), to,
    h('label', { for: 's-camera' }, 'Camera'), cam,
    h('label', { for: 's-why' }, 'Justification'), why,
    h('div', { class: 'full' }, h('button', { class: 'primary', type: 'submit' }, 'Search'),
      h('span', { class: 'muted' }, ' At most 92 days at a time. Characters OCR confuses (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) match each other.')));
  return h('div', {}, h('h1', {}, 'Forensic search'),
    h('p', { class: 'muted' }, 'Plate reads are kept 24 hours, or 90 days when they hit a hotlist; confirmed matches as the retention policy says. Faces of people on no list are never stored, so there is nothing of theirs to search.'),
    form, results);
}

const RENDER = { map: mapPage, incidents: incidentsPage, incident: incidentPage, search: searchPage, review: reviewPage, watchlist: watchlistPage, cameras: camerasPage, audit: auditPage, report: reportPage };

// Each render fetches before it draws; a slower, older one must not draw
// over a newer one (a page left before its data arrived).
let renderSeq = 0;

async function render(override) {
  const seq = ++renderSeq;
  const app = document.querySelector('#app');
  if (override) { app.replaceChildren(override); return; }
  if (!state.me) { app.replaceChildren(loginPage()); return; }
  const page = currentPage().split('?')[0];
  let body;
  try {
    if (!RENDER[page]) throw new Error(`no page ${page}`);
    // Pages the role cannot use are not in the menu, but the server decides:
    // a typed-in address is asked of the API and its refusal is shown.
    body = await RENDER[page]();
  } catch (e) {
    if (!state.me) return;
    body = errorBox(e);
  }
  if (seq !== renderSeq) return;
  app.replaceChildren(shell(body));
  updateBadge();
}

async function start() {
  connectLive();
  if (can('view_candidates')) loadQueue().catch(() => {});
  await render();
}

window.addEventListener('hashchange', () => render());
(async () => {
  try {
    state.me = await api('GET', '/api/v1/session');
    state.csrf = state.me.csrf_token;
    await start();
  } catch { render(); }
})();
