// The map page: cameras (with units and open incidents for dispatchers) on
// the map, and the candidates raised since the page opened.
import { drawMap } from '../map.js';
import { state, h, fmtTime, can, api } from '../core.js';

export async function mapPage() {
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
