// The camera map, drawn as SVG from the Natural Earth country boundaries in
// the world-atlas package (bundled, so no tile server is needed offline) and
// the cameras' configured coordinates. Web Mercator, fitted to the cameras.
import { feature } from 'topojson-client';
import atlas from 'world-atlas/countries-50m.json';

const SVGNS = 'http://www.w3.org/2000/svg';
const countries = feature(atlas, atlas.objects.countries).features;
const W = 1000;
const H = 700;

const merc = ([lon, lat]) => {
  const y = Math.log(Math.tan(Math.PI / 4 + (Math.max(-85, Math.min(85, lat)) * Math.PI) / 360));
  return [lon, (y * 180) / Math.PI];
};

function s(tag, attrs) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** The view: the points' extent, at least `minSpan` degrees across, with a margin. */
function fit(points, minSpan) {
  const pts = points.filter((c) => c.latitude != null && c.longitude != null).map((c) => merc([c.longitude, c.latitude]));
  if (!pts.length) pts.push([0, 0], [0, 0]);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  let span = Math.max(x1 - x0, (y1 - y0) * (W / H), minSpan) * 1.3;
  const k = W / span;
  return ([lon, lat]) => { const [x, y] = merc([lon, lat]); return [(x - cx) * k + W / 2, H / 2 - (y - cy) * k]; };
}

function ringPath(ring, p) {
  return ring.map((pt, i) => { const [x, y] = p(pt); return `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`; }).join('') + 'Z';
}

/**
 * Cameras (dots, coloured by health; a red ring when `hot`), and optionally
 * units (squares) and incidents (diamonds). `minSpan` is the narrowest view
 * in degrees (0.08 is about 9 km: a city's cameras stay apart; a national
 * deployment's spread sets its own extent).
 */
export function drawMap(cameras, hot, { units = [], incidents = [], minSpan = 6, size = 1, fitUnits = true } = {}) {
  const k = size;
  const p = fit([...cameras, ...incidents, ...(fitUnits ? units : [])], minSpan);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, id: 'map', role: 'img', 'aria-label': 'camera map', 'font-size': 11 * k });
  const land = s('g', {});
  for (const f of countries) {
    const g = f.geometry;
    if (!g) continue;
    const polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
    let d = '';
    for (const poly of polys) for (const ring of poly) d += ringPath(ring, p);
    const path = s('path', { d, class: 'land' });
    const t = s('title', {}); t.textContent = f.properties.name; path.append(t);
    land.append(path);
  }
  svg.append(land);
  for (const c of cameras) {
    if (c.latitude == null || c.longitude == null) continue;
    const [x, y] = p([c.longitude, c.latitude]);
    if (hot.has(c.id)) svg.append(s('circle', { cx: x, cy: y, r: 14 * k, class: 'ring' }));
    const dot = s('circle', { cx: x, cy: y, r: 7 * k, class: `cam ${c.state}`, 'data-camera': c.id });
    const t = s('title', {}); t.textContent = `${c.name} — ${c.state}${c.last_error ? ': ' + c.last_error : ''}`; dot.append(t);
    svg.append(dot);
    const label = s('text', { x: x + 10 * k, y: y + 4 * k }); label.textContent = `${c.id} (${c.state})`;
    svg.append(label);
  }
  for (const u of units) {
    if (u.latitude == null || u.longitude == null) continue;
    const [x, y] = p([u.longitude, u.latitude]);
    const box = s('rect', { x: x - 6 * k, y: y - 6 * k, width: 12 * k, height: 12 * k, class: `unit ${u.kind} ${u.status}`, 'data-unit': u.id });
    const t = s('title', {}); t.textContent = `${u.name} — ${u.status}${u.incident_id ? ' (incident ' + u.incident_id + ')' : ''}`; box.append(t);
    svg.append(box);
    const label = s('text', { x: x + 9 * k, y: y + 4 * k, class: 'unit-label' }); label.textContent = `${u.id} ${u.status.replace('_', ' ')}`;
    svg.append(label);
  }
  for (const i of incidents) {
    const [x, y] = p([i.longitude, i.latitude]);
    const r = 11 * k;
    const d = s('path', { d: `M${x},${y - r}L${x + r},${y}L${x},${y + r}L${x - r},${y}Z`, class: `incident p${i.priority} ${i.status}`, 'data-incident': i.id });
    const t = s('title', {}); t.textContent = `Incident ${i.id}: ${i.type_label} — ${i.status}`; d.append(t);
    svg.append(d);
    const label = s('text', { x: x + 13 * k, y: y - 6 * k, class: 'incident-label' }); label.textContent = `#${i.id} ${i.type_label}`;
    svg.append(label);
  }
  return svg;
}
