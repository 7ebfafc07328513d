// The router: which page each hash route draws, drawing the current one
// (inside the shell, or the login form), and starting a logged-in session.
import { state, can, errorBox } from './core.js';
import { connectLive, updateBadge } from './live.js';
import { currentPage, loginPage, shell } from './shell.js';
import { mapPage } from './pages/map.js';
import { incidentsPage, incidentPage } from './pages/incidents.js';
import { searchPage } from './pages/search.js';
import { reviewPage, loadQueue } from './pages/review.js';
import { watchlistPage } from './pages/watchlist.js';
import { camerasPage } from './pages/cameras.js';
import { auditPage } from './pages/audit.js';
import { reportPage } from './pages/report.js';
import { usersPage } from './pages/users.js';

const RENDER = { map: mapPage, incidents: incidentsPage, incident: incidentPage, search: searchPage, review: reviewPage, watchlist: watchlistPage, cameras: camerasPage, audit: auditPage, report: reportPage, users: usersPage };

// Each render fetches before it draws; a slower, older one must not draw
// over a newer one (a page left before its data arrived).
let renderSeq = 0;

export async function render(override) {
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

export async function start() {
  connectLive();
  if (can('view_candidates')) loadQueue().catch(() => {});
  await render();
}
