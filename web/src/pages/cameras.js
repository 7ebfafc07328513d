// The cameras page: health, counters and ownership of every camera.
import { state, h, can, api } from '../core.js';

export async function camerasPage() {
  state.cameras = await api('GET', '/api/v1/cameras');
  return h('div', {}, h('h1', {}, 'Cameras'),
    h('table', { id: 'cameras' }, h('thead', {}, h('tr', {}, ['Camera', 'Name', 'Health', 'Last error', 'Reconnects', 'Frames', 'Candidates', 'Purpose', 'Owner', 'Source', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, state.cameras.map((c) => h('tr', {},
        h('td', {}, c.id), h('td', {}, c.name), h('td', {}, h('span', { class: `pill ${c.state}` }, c.state)),
        h('td', {}, c.last_error || '—'), h('td', {}, c.reconnects), h('td', {}, c.frames), h('td', {}, c.candidates),
        h('td', {}, c.purpose), h('td', {}, c.owner), h('td', { class: 'muted' }, c.source),
        h('td', {}, can('dispatch') ? h('a', { href: `#/incidents?camera=${encodeURIComponent(c.id)}`, class: 'open-incident' }, 'Open incident here') : null))))));
}
