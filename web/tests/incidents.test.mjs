// End-to-end test of emergency incidents in a real browser (Debian's Chromium
// via playwright-core) against the real civitas binary: a gate camera reads
// plates with the real PP-OCRv4 models and a plaza camera matches faces with
// the real SCRFD + dlib models. An operator opens an incident from a call,
// sees the cameras near it, views one, dispatches a unit, ticks the
// procedure and closes it; an unconfirmed face match is refused with the
// two-person rule; a confirmed plate hit opens an incident that a second
// operator's console shows live; a supervisor finds the pass by a partial
// plate in the forensic search. Screenshots in web/test-artifacts/.
//
//   CIVITAS_BIN=target/debug/civitas CIVITAS_VAR=var node web/tests/incidents.test.mjs
import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ROOT, VAR, ART, freePort, stepper, civitas, baseConfig, makeUsers, startRun, launch, session, shot } from './harness.mjs';

const step = stepper('incidents browser test');
const dir = mkdtempSync(join(tmpdir(), 'civitas-incidents-'));
const port = await freePort();
const clip = join(dir, 'plaza.mp4');
execFileSync(join(ROOT, 'scripts/make-clip'), [clip,
  join(VAR, 'testdata/face_recognition/obama2.jpg'), join(VAR, 'testdata/scrfd/newton.png'), '--seconds', '3']);
const cfg = join(dir, 'civitas.toml');
// A webhook receiver on loopback (radio dispatch, say): down at first, up later.
const hookPort = await freePort();
const SECRET = 'radio-dispatch-shared-secret-2026';
writeFileSync(join(dir, 'radio.secret'), `${SECRET}\n`);
const hook = { got: [], badSignatures: 0, server: null };
function startReceiver() {
  hook.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ts = req.headers['x-civitas-timestamp'] || '';
      const want = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(`${ts}.`).update(body).digest('hex')}`);
      const sig = Buffer.from(String(req.headers['x-civitas-signature'] || ''));
      if (sig.length !== want.length || !timingSafeEqual(sig, want)) { hook.badSignatures++; res.writeHead(401).end(); return; }
      hook.got.push({ delivery: Number(req.headers['x-civitas-delivery']), event: req.headers['x-civitas-event'], body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  }).listen(hookPort, '127.0.0.1');
}
// Both cameras read their clip as fast as they can (realtime = false): the
// candidates are waiting when the browser arrives; the cameras keep their
// last picture for viewing through an incident.
writeFileSync(cfg, `${baseConfig(dir, port)}[anpr]
formats = ["EC"]
[incidents]
area = [-0.40, -78.65, 0.05, -78.30]
nearby_camera_radius_m = 1500
[[incident_type]]
id = "robbery"
label = "Robbery in progress"
priority = 1
sop = ["Confirm the exact location with the caller", "Ask whether weapons were seen", "Pull up the cameras near the incident"]
[[incident_type]]
id = "stolen-vehicle"
label = "Stolen vehicle sighted"
priority = 2
sop = ["Check the plate in the picture against the hotlist entry", "Dispatch the nearest police unit"]
[[unit]]
id = "P-11"
kind = "police"
name = "Patrol 11 (Centro)"
latitude = -0.2150
longitude = -78.5080
[[unit]]
id = "P-12"
kind = "police"
name = "Patrol 12"
latitude = -0.2010
longitude = -78.4930
[[unit]]
id = "A-3"
kind = "ambulance"
name = "Ambulance 3"
latitude = -0.2080
longitude = -78.5000
[[webhook]]
name = "radio"
url = "http://127.0.0.1:${hookPort}/civitas"
secret_file = "radio.secret"
timeout_ms = 2000
backoff_initial_ms = 200
backoff_max_ms = 1000
[[camera]]
id = "plaza"
name = "Plaza Grande, north side"
url = "${clip}"
fps = 2.0
realtime = false
latitude = -0.2202
longitude = -78.5123
purpose = "Public square; watchlist matching under court orders"
owner = "Municipal security office"
[[camera]]
id = "gate"
name = "Avenida Guayaquil gate"
url = "${join(VAR, 'demo/plate-camera.mp4')}"
fps = 4.0
anpr = true
realtime = false
latitude = -0.2190
longitude = -78.5100
purpose = "Vehicle entrance; plate hotlist matching under stolen-vehicle reports"
owner = "Municipal security office"
[[camera]]
id = "north"
name = "North terminal"
url = "${clip}"
fps = 0.5
realtime = false
latitude = -0.1300
longitude = -78.4900
purpose = "Bus terminal"
owner = "Municipal security office"
`);
makeUsers(cfg);
const basis = ['--authority', 'Juzgado 3 de Garantias Penales', '--purpose', 'Locate a person or vehicle named in a court order', '--expires', '2099-01-01'];
civitas(cfg, ['enroll', '--name', 'Barack Obama', '--photo', join(VAR, 'testdata/face_recognition/obama.jpg'),
  '--basis-kind', 'court-order', '--reference', 'CASE-2026-042', '--scope', '*', ...basis], 'sam');
civitas(cfg, ['hotlist', 'create', 'stolen', '--max-distance', '0.5'], 'sam');
civitas(cfg, ['hotlist', 'add', '--list', 'stolen', '--plate', 'GYE-0077', '--description', 'grey hatchback',
  '--basis-kind', 'stolen-vehicle-report', '--reference', 'DENUNCIA-2026-118', '--scope', 'gate', ...basis], 'sam');
step('configured: a face camera, a plate camera, incident types, three units; a person and a plate listed');

const { base, out, stop } = await startRun(cfg, port);
const browser = await launch();
let failed = null;
const figures = {};
try {
  const olga = await session(browser, base, 'olga');
  const omar = await session(browser, base, 'omar');

  // ---- The two-person rule: an unconfirmed face match opens nothing. ----
  await olga.goto(`${base}/#/review`);
  const face = olga.locator('article.card', { hasText: 'Barack Obama' }).first();
  await face.waitFor({ timeout: 120_000 });
  assert.match(await face.textContent(), /Only a confirmed match can open an incident/);
  await face.locator('a.try-incident').click();
  await olga.waitForSelector('#open-incident');
  assert.match(await olga.textContent('#open-from'), /From confirmed candidate #\d+/);
  await olga.click('#open-incident button[type=submit]');
  await olga.waitForSelector('#open-result .error');
  assert.match(await olga.textContent('#open-result'), /Refused \(412\).*not confirmed \(0 of 2.*two-person rule/);
  await shot(olga, 'i01-unconfirmed-match-refused');
  step('an unconfirmed face match cannot open an incident; the console says why');

  // ---- A call: open, nearby cameras, view, dispatch, procedure, close. ----
  await olga.goto(`${base}/#/incidents`);
  await olga.waitForSelector('#open-incident');
  await olga.selectOption('#i-type', 'robbery');
  assert.equal(await olga.inputValue('#i-priority'), '1', 'the type sets the default priority');
  await olga.fill('#i-latitude', '-0.2208');
  await olga.fill('#i-longitude', '-78.5118');
  await olga.fill('#i-address', 'Plaza Grande, corner of García Moreno');
  await olga.fill('#i-caller_name', 'María P.');
  await olga.fill('#i-caller_phone', '+593 99 123 4567');
  await olga.fill('#i-notes', 'Two men took a handbag; one had a knife');
  await olga.click('#open-incident button[type=submit]');
  await olga.waitForSelector('#incident');
  const callId = await olga.getAttribute('#incident', 'data-id');
  assert.match(await olga.textContent('#incident-status'), /new/);
  assert.equal(await olga.locator('#sop li').count(), 3);
  // Nearby: plaza and gate, not the terminal 10 km away.
  const near = await olga.$$eval('#nearby button.view-camera', (bs) => bs.map((b) => b.dataset.camera));
  assert.deepEqual(near, ['plaza', 'gate'], 'nearest first; the terminal 10 km away is not near');
  await olga.click('button.view-camera[data-camera=plaza]');
  await olga.waitForFunction(() => { const i = document.querySelector('#camera-view img'); return i && i.complete && i.naturalWidth > 0; });
  await shot(olga, 'i02-incident-from-call-nearby-cameras');
  step(`incident ${callId} opened from a call; the cameras near it are listed and one is viewed`);
  // Dispatch P-11: the incident is dispatched, the unit busy.
  await olga.selectOption('#unit-select', 'P-11');
  await olga.click('#dispatch');
  await olga.locator('#incident-status', { hasText: 'dispatched' }).waitFor();
  assert.match(await olga.textContent('#assigned'), /P-11.*dispatched/);
  // The webhook receiver was down so far; its failures are on the incidents page.
  await olga.goto(`${base}/#/incidents`);
  await olga.waitForSelector('#integrations tr.failing');
  assert.match(await olga.textContent('#integrations'), /radio.*127\.0\.0\.1:\d+.*attempt/);
  await shot(olga, 'i02b-webhook-down-visible');
  startReceiver();
  step('the webhook receiver was down: its failures are shown; now it is up');
  await olga.goto(`${base}/#/incident?id=${callId}`);
  await olga.waitForSelector('#sop');
  // Work the procedure.
  for (const n of [1, 2, 3]) {
    await olga.click(`#sop li:nth-child(${n}) button.tick`);
    await olga.locator(`#sop li:nth-child(${n}).done`).waitFor();
  }
  assert.match(await olga.textContent('#sop'), /olga/);
  await olga.click('#to-on_scene');
  await olga.locator('#incident-status', { hasText: 'on scene' }).waitFor();
  await shot(olga, 'i03-dispatched-procedure-done-on-scene');
  await olga.selectOption('#close-reason', 'resolved');
  await olga.fill('#status-note', 'Both detained by P-11');
  await olga.click('#close');
  await olga.locator('#incident-status', { hasText: 'closed' }).waitFor();
  const timeline = await olga.textContent('#timeline');
  for (const t of [/Opened from a call/, /Viewed camera plaza/, /Unit P-11 dispatched/, /Step 3 done/, /dispatched → on_scene/, /on_scene → closed \(resolved\); units freed: P-11: Both detained/]) {
    assert.match(timeline, t);
  }
  await shot(olga, 'i04-closed');
  step(`incident ${callId}: dispatched, procedure ticked, on scene, closed; every step in the timeline`);

  // ---- A confirmed plate hit opens an incident a second console shows live. ----
  await omar.goto(`${base}/#/incidents`);
  await omar.waitForSelector('#incident-list table, #incident-list p');
  await olga.goto(`${base}/#/review`);
  const plate = olga.locator('article.card', { hasText: 'GYE0077' }).first();
  await plate.waitFor({ timeout: 120_000 });
  const plateId = await plate.getAttribute('data-id');
  await plate.locator('button.confirm').click();
  const tConfirm = Date.now();
  await olga.locator(`#open-incident-${plateId}`).click();
  await olga.waitForSelector('#open-incident');
  assert.equal(await olga.inputValue('#i-type'), 'stolen-vehicle');
  const tSubmit = Date.now();
  await olga.click('#open-incident button[type=submit]');
  await olga.waitForSelector('#incident');
  const plateIncident = await olga.getAttribute('#incident', 'data-id');
  // Omar's list shows it without a reload, pushed over Server-Sent Events.
  await omar.waitForSelector(`#inc-${plateIncident}`, { timeout: 10_000 });
  const tSeen = Date.now();
  figures.submit_to_second_console_ms = tSeen - tSubmit;
  figures.confirm_to_second_console_ms = tSeen - tConfirm;
  assert.match(await omar.textContent(`#inc-${plateIncident}`), /Stolen vehicle sighted.*new.*candidate \(gate\)/);
  assert.match(await olga.textContent('#links'), /candidate \d+, plate read \d+/);
  await shot(omar, 'i05-second-console-live');
  await shot(olga, 'i06-incident-from-plate-hit');
  step(`confirmed plate hit ${plateId} opened incident ${plateIncident}; omar's console showed it ${figures.submit_to_second_console_ms} ms after olga submitted`);

  // The map shows units and the open incident beside the cameras.
  await omar.goto(`${base}/#/map`);
  await omar.waitForSelector('#map rect.unit');
  assert.equal(await omar.locator('#map rect.unit').count(), 3);
  assert.equal(await omar.locator(`#map path.incident[data-incident="${plateIncident}"]`).count(), 1);
  await shot(omar, 'i07-map-units-incidents');

  // ---- Forensic search: a partial plate with a confusable character finds the pass. ----
  const sam = await session(browser, base, 'sam');
  await sam.goto(`${base}/#/search`);
  await sam.waitForSelector('#search-form');
  await sam.fill('#s-text', 'G?E0O77');
  await sam.fill('#s-why', 'Stolen-vehicle report DENUNCIA-2026-118');
  await sam.click('#search-form button[type=submit]');
  await sam.waitForSelector('#search-count');
  assert.match(await sam.textContent('#search-count'), /^1 result/);
  assert.match(await sam.textContent('#search-results'), /GYE0077.*hotlist hit.*gate/);
  await sam.waitForFunction(() => { const i = document.querySelector('#search-results img'); return i && i.complete && i.naturalWidth > 0; });
  assert.equal(await sam.locator('#search-timeline rect.tick.hit').count(), 1);
  await shot(sam, 'i09-forensic-search-partial-plate');
  // Confirmed matches by the listed plate.
  await sam.selectOption('#s-kind', 'matches');
  await sam.fill('#s-text', 'gye');
  await sam.click('#search-form button[type=submit]');
  await sam.waitForFunction(() => /confirmed by olga/.test(document.querySelector('#search-results')?.textContent || ''));
  // Camera events: the clips ended, so each camera's stop is on record.
  await sam.selectOption('#s-kind', 'events');
  await sam.fill('#s-text', 'stopped');
  await sam.click('#search-form button[type=submit]');
  await sam.waitForSelector('#search-results article[data-event]');
  assert.match(await sam.textContent('#search-results'), /stopped\s*plaza/);
  step('forensic search: the pass found by a partial plate with a confusable character, the confirmed hit by its plate, the cameras\' stops by kind');

  // ---- The auditor sees every step and the counts. ----
  const aude = await session(browser, base, 'aude');
  await aude.goto(`${base}/#/audit?q=incident.`);
  await aude.waitForSelector('#audit tbody tr');
  const rows = await aude.textContent('#audit tbody');
  for (const a of ['incident.open', 'incident.dispatch', 'incident.sop.tick', 'incident.status', 'incident.camera.view']) {
    assert.match(rows, new RegExp(a.replace('.', '\\.')));
  }
  await aude.goto(`${base}/#/audit?q=search`);
  await aude.waitForFunction(() => /plate\.search[\s\S]*Stolen-vehicle report DENUNCIA-2026-118/.test(document.querySelector('#audit tbody')?.textContent || ''));
  assert.match(await aude.textContent('#audit tbody'), /match\.search/);
  await aude.goto(`${base}/#/report`);
  await aude.waitForSelector('#report table');
  const report = await aude.textContent('#report');
  assert.match(report, /call\s*1/);
  assert.match(report, /candidate\s*1/);
  assert.match(report, /resolved\s*1/);
  assert.match(report, /Units dispatched\s*1/);
  await shot(aude, 'i08-report-incidents');
  step('the auditor finds every incident action in the audit log and the counts in the report');
  writeFileSync(join(ART, 'incident-latency.json'), JSON.stringify(figures));

  // ---- The webhook got every event, signed, in order, once each. ----
  for (let i = 0; hook.got.length < 5; i++) {
    if (i > 100) throw new Error(`the webhook got ${hook.got.length} of 5 events`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(hook.badSignatures, 0);
  const ids = hook.got.map((g) => g.delivery);
  assert.deepEqual(ids, [...new Set(ids)].sort((a, b) => a - b), 'in order, none twice');
  assert.deepEqual(hook.got.map((g) => g.event), ['incident.opened', 'incident.unit.assigned', 'incident.status', 'incident.status', 'incident.opened']);
  assert.equal(hook.got[3].body.data.incident.status, 'closed');
  assert.equal(hook.got[4].body.data.incident.type, 'stolen-vehicle');
  const all = JSON.stringify(hook.got);
  assert.ok(!all.includes('María') && !all.includes('123 4567') && !all.includes('knife') && !all.includes('GYE'), 'no caller, notes or plate leave');
  step('the webhook receiver, down for a while, got all 5 events signed and in order, without caller or plate');
} catch (e) {
  failed = e;
} finally {
  await browser.close();
  await stop();
  if (hook.server) hook.server.close();
}
if (failed) {
  console.error(`incidents browser test FAILED: ${failed.stack || failed}\n--- civitas run output ---\n${out.log}`);
  process.exit(1);
}
console.log(`incidents browser test: passed; screenshots in ${ART}`);
