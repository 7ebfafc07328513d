// Emergency incidents: the list with the form that opens one (and the
// webhook integrations), and one incident with its units, procedure,
// timeline and the cameras near it.
import { drawMap } from '../map.js';
import { state, h, fmtTime, api, errorBox, hashParams } from '../core.js';
import { render } from '../router.js';

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

export async function drawIncidentList() {
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

export async function incidentsPage() {
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

export async function incidentPage() {
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
