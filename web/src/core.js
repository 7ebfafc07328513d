// Shared by every page: the state object, the element builder `h` (server
// text always goes in as text nodes, never as HTML), the API client and
// small helpers.
import { render } from './router.js';

export const state = { me: null, csrf: null, cameras: [], live: [], queue: [], selected: 0, es: null, notes: {}, decided: [], incidents: [], units: [], types: [], seen: {} };

// ---- helpers -----------------------------------------------------------------
export function h(tag, attrs = {}, ...kids) {
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
export const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '—');
export const can = (p) => !!state.me && state.me.permissions.includes(p);

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
  }
}

export async function api(method, path, body) {
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

export function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, e.status ? `Refused (${e.status}): ${e.message}` : String(e.message || e));
}

export const hashParams = () => new URLSearchParams(location.hash.split('?')[1] || '');
