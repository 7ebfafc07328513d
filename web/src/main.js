// Civitas command centre: one page, hash routes, no framework. Every piece
// of data comes from the API of the binary that serves this file; nothing is
// loaded from anywhere else. Text from the server is always inserted as text
// (never as HTML).
// This entry module only starts the console; the pages are in pages/ and the
// router in router.js.
import { state, api } from './core.js';
import { render, start } from './router.js';

window.addEventListener('hashchange', () => render());
(async () => {
  try {
    state.me = await api('GET', '/api/v1/session');
    state.csrf = state.me.csrf_token;
    await start();
  } catch { render(); }
})();
