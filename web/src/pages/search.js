// Forensic search: plate reads, confirmed matches and camera events over a
// time range, with a timeline, clip playback and evidence export.
import { h, fmtTime, can, api, errorBox } from '../core.js';

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

export async function searchPage() {
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
