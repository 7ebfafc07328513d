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

/** The view: cameras' extent, at least 6 degrees across, with a margin. */
function fit(cameras) {
  const pts = cameras.filter((c) => c.latitude != null && c.longitude != null).map((c) => merc([c.longitude, c.latitude]));
  if (!pts.length) pts.push([0, 0], [0, 0]);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  let span = Math.max(x1 - x0, (y1 - y0) * (W / H), 6) * 1.3;
  const k = W / span;
  return ([lon, lat]) => { const [x, y] = merc([lon, lat]); return [(x - cx) * k + W / 2, H / 2 - (y - cy) * k]; };
}

function ringPath(ring, p) {
  return ring.map((pt, i) => { const [x, y] = p(pt); return `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`; }).join('') + 'Z';
}

export function drawMap(cameras, hot) {
  const p = fit(cameras);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, id: 'map', role: 'img', 'aria-label': 'camera map' });
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
    if (hot.has(c.id)) svg.append(s('circle', { cx: x, cy: y, r: 14, class: 'ring' }));
    const dot = s('circle', { cx: x, cy: y, r: 7, class: `cam ${c.state}`, 'data-camera': c.id });
    const t = s('title', {}); t.textContent = `${c.name} — ${c.state}${c.last_error ? ': ' + c.last_error : ''}`; dot.append(t);
    svg.append(dot);
    const label = s('text', { x: x + 10, y: y + 4 }); label.textContent = `${c.id} (${c.state})`;
    svg.append(label);
  }
  return svg;
}
