// End-to-end test of recording, playback and evidence export in a real
// browser (Debian's Chromium via playwright-core) against the real civitas
// binary: a gate camera served over RTSP by GStreamer's RTSP server is read
// by the real PP-OCRv4 models and recorded as it arrives (no re-encoding).
// An operator confirms the plate hit; the camera drops (the clip closes); an
// investigator finds the pass by a partial plate with a confusable
// character, plays the clip in the browser, and exports the case; the
// downloaded bundle verifies with `civitas evidence verify` and stops
// verifying when one byte of its clip changes. Screenshots in web/test-artifacts/.
//
//   CIVITAS_BIN=target/debug/civitas CIVITAS_VAR=var node web/tests/evidence.test.mjs
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ROOT, VAR, BIN, freePort, stepper, civitas, baseConfig, makeUsers, startRun, launch, session, shot } from './harness.mjs';

const step = stepper('evidence browser test');
const dir = mkdtempSync(join(tmpdir(), 'civitas-evidence-'));
const port = await freePort();
const rtspPort = await freePort();
const rtsp = spawn('/usr/bin/python3', [join(ROOT, 'scripts/rtsp-server'), join(VAR, 'demo/plate-camera.mp4'), '--port', String(rtspPort)], { stdio: 'ignore' });
const cfg = join(dir, 'civitas.toml');
writeFileSync(cfg, `${baseConfig(dir, port)}[anpr]
formats = ["EC"]
[recording]
dir = "${join(dir, 'recordings')}"
evidence_dir = "${join(dir, 'evidence')}"
pre_roll_s = 3
post_roll_s = 3
[[camera]]
id = "gate"
name = "Avenida Guayaquil gate"
url = "rtsp://127.0.0.1:${rtspPort}/cam"
fps = 4.0
anpr = true
latitude = -0.2190
longitude = -78.5100
purpose = "Vehicle entrance; plate hotlist matching under stolen-vehicle reports"
owner = "Municipal security office"
`);
makeUsers(cfg);
const basis = ['--authority', 'Juzgado 3 de Garantias Penales', '--purpose', 'Locate a vehicle named in a court order', '--expires', '2099-01-01'];
civitas(cfg, ['hotlist', 'create', 'stolen', '--max-distance', '0.5'], 'sam');
civitas(cfg, ['hotlist', 'add', '--list', 'stolen', '--plate', 'GYE-0077', '--description', 'grey hatchback',
  '--basis-kind', 'stolen-vehicle-report', '--reference', 'DENUNCIA-2026-118', '--scope', 'gate', ...basis], 'sam');
step('configured: an RTSP plate camera recorded on events; a plate listed');

const { base, out, stop } = await startRun(cfg, port);
const browser = await launch();
let failed = null;
try {
  // ---- An operator confirms the plate hit. ----
  const olga = await session(browser, base, 'olga');
  await olga.goto(`${base}/#/review`);
  const card = olga.locator('article.card', { hasText: 'GYE0077' }).first();
  await card.waitFor({ timeout: 120_000 });
  await card.locator('button.confirm').click();
  await olga.waitForFunction(() => /confirmed/i.test(document.querySelector('#app')?.textContent || ''));
  step('olga confirmed the plate hit');
  // The camera drops: its open clip is finished and indexed.
  await new Promise((r) => setTimeout(r, 4000));
  rtsp.kill('SIGKILL');
  const recDir = join(dir, 'recordings/gate');
  for (let i = 0; ; i++) {
    const done = (() => { try { return readdirSync(recDir).filter((f) => f.endsWith('.mp4')); } catch { return []; } })();
    if (done.length) break;
    if (i > 200) throw new Error('no finished recording');
    await new Promise((r) => setTimeout(r, 100));
  }

  // ---- The investigator finds the pass by a partial plate and plays the clip. ----
  const sam = await session(browser, base, 'sam');
  await sam.goto(`${base}/#/search`);
  await sam.waitForSelector('#search-form');
  await sam.fill('#s-text', 'G?E0O77');
  await sam.fill('#s-why', 'Court order DENUNCIA-2026-118');
  await sam.click('#search-form button[type=submit]');
  await sam.waitForSelector('#search-results article[data-read]');
  assert.match(await sam.textContent('#search-results'), /GYE0077.*hotlist hit.*gate/);
  await sam.locator('#search-results article[data-read] button.play').first().click();
  await sam.waitForSelector('video.player');
  await sam.waitForFunction(() => { const v = document.querySelector('video.player'); return v && v.readyState >= 2 && v.duration > 3 && v.videoWidth === 1280; }, null, { timeout: 20_000 });
  const played = await sam.evaluate(() => { const v = document.querySelector('video.player'); return { duration: v.duration, width: v.videoWidth, height: v.videoHeight, t: v.currentTime }; });
  step(`played the clip in the browser: ${played.width}x${played.height}, ${played.duration.toFixed(1)} s`);
  await shot(sam, 'e01-search-and-play-clip');

  // ---- …and exports the case. ----
  await sam.selectOption('#s-kind', 'matches');
  await sam.fill('#s-text', 'gye');
  await sam.click('#search-form button[type=submit]');
  await sam.waitForSelector('#search-results article[data-candidate] button.export-start');
  const t0 = Date.now();
  await sam.locator('#search-results article[data-candidate] button.export-start').first().click();
  await sam.waitForSelector('.export progress', { timeout: 10_000 });
  await shot(sam, 'e02-export-progress');
  await sam.waitForSelector('.export-done, .export .error', { timeout: 420_000 });
  const doneText = await sam.textContent('.export');
  assert.match(doneText, /Bundle case-\d+-export-1-\d+: 1 clip\(s\), \d+ frames/, doneText);
  step(`exported in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${doneText.split('Download')[0].trim()}`);
  await shot(sam, 'e03-export-done');
  // Download it as the browser would, and verify it offline.
  const href = await sam.getAttribute('.export-done a.download', 'href');
  const tar = await sam.evaluate(async (u) => { const r = await fetch(u); return { status: r.status, type: r.headers.get('content-type'), bytes: Array.from(new Uint8Array(await r.arrayBuffer())) }; }, href);
  assert.equal(tar.status, 200);
  assert.equal(tar.type, 'application/x-tar');
  const tarPath = join(dir, 'bundle.tar');
  writeFileSync(tarPath, Buffer.from(tar.bytes));
  const unpacked = join(dir, 'unpacked');
  execFileSync('mkdir', ['-p', unpacked]);
  execFileSync('tar', ['xf', tarPath, '-C', unpacked]);
  const [caseDir] = readdirSync(unpacked);
  const bundle = join(unpacked, caseDir);
  const verified = execFileSync(BIN, ['evidence', 'verify', bundle], { encoding: 'utf8' });
  assert.match(verified, /VERIFIED: 1 file\(s\)/);
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
  assert.equal(manifest.legal_basis.reference, 'DENUNCIA-2026-118');
  assert.equal(manifest.case.plate, 'GYE0077');
  const actions = manifest.audit.entries.map((e) => e.action);
  for (const a of ['candidate.confirm', 'recording.play', 'evidence.export']) assert.ok(actions.includes(a), `${a} in ${actions}`);
  // One byte of the clip altered: refused.
  const clip = join(bundle, manifest.files[0].path);
  const bytes = readFileSync(clip);
  bytes[Math.floor(bytes.length / 2)] ^= 1;
  writeFileSync(clip, bytes);
  let refused = '';
  try { execFileSync(BIN, ['evidence', 'verify', bundle], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); } catch (e) { refused = String(e.stderr); }
  assert.match(refused, /was altered/);
  step('the downloaded bundle verifies offline, and is refused once one byte of its clip changes');

  // ---- The auditor sees the playback and the export. ----
  const aude = await session(browser, base, 'aude');
  await aude.goto(`${base}/#/report`);
  await aude.waitForSelector('#report table');
  const report = await aude.textContent('#report');
  assert.match(report, /Bundles exported\s*1/);
  assert.match(report, /Recordings played\s*[1-9]/);
  await shot(aude, 'e04-report-evidence');
} catch (e) {
  failed = e;
} finally {
  await browser.close();
  await stop();
  rtsp.kill('SIGKILL');
}
if (failed) {
  console.error(`evidence browser test FAILED: ${failed.stack || failed}\n--- civitas run output ---\n${out.log}`);
  process.exit(1);
}
console.log('evidence browser test: passed');
