// Live events: the server-sent events connection, redrawing the page a
// change concerns, and the review-queue badge in the menu.
import { state, hashParams } from './core.js';
import { currentPage } from './shell.js';
import { render } from './router.js';
import { loadQueue, drawReview } from './pages/review.js';
import { drawIncidentList } from './pages/incidents.js';

export function connectLive() {
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

export function updateBadge() {
  const b = document.querySelector('#queue-count');
  if (b) b.textContent = state.queue.length ? String(state.queue.length) : '';
  if (b) b.style.display = state.queue.length ? '' : 'none';
}
