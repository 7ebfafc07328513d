// End-to-end test of the command centre in a real browser: Debian's Chromium
// driven by playwright-core, against the real civitas binary analysing a real
// clip with the real face models. Screenshots of every page are saved in
// web/test-artifacts/ (look at them).
//
//   CIVITAS_BIN=target/debug/civitas CIVITAS_VAR=var node web/tests/console.test.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ROOT, VAR, ART, freePort, stepper, civitas, baseConfig, makeUsers, startRun, launch, session as login, shot } from './harness.mjs';

const step = stepper('browser test');

const dir = mkdtempSync(join(tmpdir(), 'civitas-browser-'));
const port = await freePort();
const clip = join(dir, 'plaza.mp4');
// A quiet lead-in (a face on no list) so the browser is watching before the
// enrolled person walks past twice, with someone else in between.
execFileSync(join(ROOT, 'scripts/make-clip'), [clip,
  join(VAR, 'testdata/scrfd/newton.png'), join(VAR, 'testdata/scrfd/newton.png'), join(VAR, 'testdata/scrfd/newton.png'),
  join(VAR, 'testdata/face_recognition/obama2.jpg'), join(VAR, 'testdata/face_recognition/biden.jpg'),
  join(VAR, 'testdata/face_recognition/obama3.jpg'), join(VAR, 'testdata/scrfd/newton.png'), '--seconds', '3']);
const cfg = join(dir, 'civitas.toml');
writeFileSync(cfg, `${baseConfig(dir, port)}[[camera]]
id = "plaza"
name = "Plaza Grande, north side"
url = "${clip}"
fps = 2.0
realtime = true
latitude = -0.2202
longitude = -78.5123
purpose = "Public square; watchlist matching under court orders"
owner = "Municipal security office"
`);
makeUsers(cfg);
civitas(cfg, ['enroll', '--name', 'Barack Obama', '--photo', join(VAR, 'testdata/face_recognition/obama.jpg'),
  '--basis-kind', 'court-order', '--authority', 'Juzgado 3 de Garantias Penales', '--reference', 'CASE-2026-042',
  '--purpose', 'Locate a person named in a court order', '--expires', '2099-01-01', '--scope', '*'], 'sam');
step('configured, users made, one person enrolled');

const { base, out, stop } = await startRun(cfg, port);
step(`civitas run serves the command centre at ${base}`);

const browser = await launch();
let failed = null;
try {
  const session = (user) => login(browser, base, user);

  // A wrong password is refused in words.
  const ctx0 = await browser.newContext();
  const p0 = await ctx0.newPage();
  await p0.goto(`${base}/`);
  await p0.fill('#username', 'olga');
  await p0.fill('#password', 'not the password');
  await p0.click('button[type=submit]');
  await p0.waitForSelector('.error');
  assert.match(await p0.textContent('.error'), /wrong user name or password/);
  await shot(p0, '01-login-refused');
  await ctx0.close();

  const olga = await session('olga');
  await olga.goto(`${base}/#/review`);
  await olga.waitForSelector('#queue');
  step('olga is logged in and watching the review queue');
  const t0 = Date.now();
  // Live: the candidate appears without a reload, pushed over Server-Sent Events.
  const arrival = olga.evaluate(() => new Promise((ok) => {
    const es = new EventSource('/api/v1/events');
    es.addEventListener('candidate', (m) => { ok({ at: Date.now(), d: JSON.parse(m.data) }); es.close(); });
  }));
  await olga.waitForSelector('article.card', { timeout: 60_000 });
  const live = await arrival;
  step(`a candidate appeared live after ${((Date.now() - t0) / 1000).toFixed(1)} s; frame to browser ${(live.at - live.d.frame_time_ms)} ms, store to browser ${(live.at - live.d.stored_at_ms)} ms`);
  writeFileSync(join(ART, 'latency.json'), JSON.stringify({ frame_to_browser_ms: live.at - live.d.frame_time_ms, stored_to_browser_ms: live.at - live.d.stored_at_ms }));
  assert.match(await olga.textContent('article.card'), /Barack Obama/);
  assert.match(await olga.textContent('article.card'), /CASE-2026-042/);
  assert.match(await olga.textContent('article.card'), /Two-person rule: 0 of 2/);
  // The card says how rarely a stranger scores this close (the measured false-match rate).
  assert.match(await olga.textContent('article.card .stranger-rate'), /(about|fewer than) 1 in [\d,]+ strangers would score this close to this one person/);
  // Both images load (probe crop and enrolled photo).
  await olga.waitForFunction(() => [...document.querySelectorAll('article.card img')].slice(0, 2).every((i) => i.complete && i.naturalWidth > 0));
  await shot(olga, '02-review-candidate-live');
  const firstId = await olga.getAttribute('article.card', 'data-id');

  // Olga confirms with the keyboard shortcut.
  await olga.keyboard.press('c');
  await olga.locator(`#cand-${firstId} .notice`, { hasText: 'second, different person must also confirm' }).waitFor();
  assert.match(await olga.textContent(`#cand-${firstId} .rule`), /1 of 2/);
  await shot(olga, '03-first-confirmation');
  step(`olga confirmed candidate ${firstId}: it waits for a second person`);

  // Omar confirms the same candidate: it becomes a confirmed match.
  const omar = await session('omar');
  await omar.goto(`${base}/#/review`);
  await omar.waitForSelector(`#cand-${firstId}`);
  assert.match(await omar.textContent(`#cand-${firstId}`), /confirm by olga/);
  await omar.click(`#cand-${firstId} button.confirm`);
  await omar.locator('#decided .notice', { hasText: `Candidate ${firstId} (Barack Obama) is now confirmed (2 of 2` }).waitFor();
  assert.equal(await omar.locator(`#cand-${firstId}`).count(), 0, 'a confirmed match leaves the queue');
  await shot(omar, '04-confirmed-by-second-person');
  step(`omar confirmed candidate ${firstId}: confirmed match`);

  // The second pass of the same person arrives; Omar rejects it with a reason.
  await omar.waitForSelector(`article.card:not(#cand-${firstId})`, { timeout: 60_000 });
  const secondId = await omar.getAttribute(`article.card:not(#cand-${firstId})`, 'data-id');
  await omar.click(`#cand-${secondId} button.reject`);
  await omar.locator(`#cand-${secondId} .error`, { hasText: 'reason' }).waitFor();
  await omar.fill(`#cand-${secondId} input.reason`, 'not the same person on closer look');
  await omar.click(`#cand-${secondId} button.reject`);
  await omar.locator('#decided .notice', { hasText: `Candidate ${secondId} (Barack Obama) is now rejected` }).waitFor();
  await shot(omar, '05-rejected-with-reason');
  step(`omar rejected candidate ${secondId} with a reason`);

  // An action without permission is refused by the server, in words.
  await olga.goto(`${base}/#/audit`);
  await olga.waitForSelector('.error');
  assert.match(await olga.textContent('.error'), /Refused \(403\).*lacks the read_audit permission/);
  await shot(olga, '05b-refused-without-permission');
  const enrol = await olga.evaluate(async () => {
    const me = await (await fetch('/api/v1/session')).json();
    const r = await fetch('/api/v1/watchlist', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: '{}' });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(enrol.status, 403);
  assert.match(enrol.body.message, /lacks the enroll permission/);
  step('an operator is refused the audit log and enrolment');

  // The auditor sees both decisions in the audit log and verifies it.
  const aude = await session('aude');
  await aude.goto(`${base}/#/audit?q=candidate.`);
  // The login drew the auditor's default page (the unfiltered audit log);
  // wait for the page of this query, so the click below is not on a page
  // about to be replaced.
  await aude.waitForFunction(() => document.querySelector('#audit-q')?.value === 'candidate.');
  await aude.waitForSelector('#audit tbody tr');
  const rows = await aude.textContent('#audit tbody');
  assert.match(rows, new RegExp(`candidate\\.confirm\\s*candidate:${firstId}`));
  assert.match(rows, new RegExp(`candidate\\.reject\\s*candidate:${secondId}`));
  assert.match(rows, /not the same person on closer look/);
  await aude.click('#verify');
  await aude.waitForSelector('#verify-result .notice');
  assert.match(await aude.textContent('#verify-result'), /the log is intact/);
  await shot(aude, '06-audit-verified');
  await aude.goto(`${base}/#/report`);
  await aude.waitForSelector('#report table');
  assert.match(await aude.textContent('#report'), /Confirmed by two people\s*1/);
  await shot(aude, '07-transparency-report');
  step('the auditor sees both decisions, verifies the log and reads the report');

  // Map, cameras and watchlists.
  const sam = await session('sam');
  await sam.goto(`${base}/#/map`);
  await sam.waitForSelector('#map circle.cam');
  assert.ok((await sam.locator('#map path.land').count()) > 100, 'country boundaries drawn');
  await shot(sam, '08-map');
  await sam.goto(`${base}/#/cameras`);
  await sam.waitForSelector('#cameras tbody tr');
  assert.match(await sam.textContent('#cameras'), /Municipal security office/);
  await shot(sam, '09-cameras');
  await sam.goto(`${base}/#/watchlist`);
  await sam.waitForSelector('#entries tbody tr');
  assert.match(await sam.textContent('#entries'), /CASE-2026-042/);
  // Enrolment through the form needs every legal-basis field; a photo with a real face enrols.
  await sam.fill('#f-name', 'Joe Biden (test)');
  await sam.setInputFiles('#f-photo', join(VAR, 'testdata/face_recognition/biden.jpg'));
  await sam.fill('#f-authority', 'Juzgado 5');
  await sam.fill('#f-reference', 'CASE-2026-077');
  await sam.fill('#f-purpose', 'Locate a witness');
  await sam.fill('#f-expires', '2099-06-30');
  await sam.click('#enrol button[type=submit]');
  await sam.waitForSelector('#enrol .notice, #enrol .error', { timeout: 60_000 });
  await shot(sam, '10-watchlist-enrolled');
  assert.match(await sam.textContent('#enrol'), /Enrolled as entry \d+/);
  await sam.waitForFunction(() => document.querySelector('#entries')?.textContent.includes('CASE-2026-077'));
  await shot(sam, '11-watchlist-after-enrolment');
  step('map, cameras and watchlist pages work; enrolment through the form stored an entry');

  // The administrator sees who is logged in and ends olga's session: her
  // open page is sent back to the login form on its next request.
  const admin = await session('admin');
  await admin.goto(`${base}/#/users`);
  await admin.waitForSelector('#sessions tbody tr');
  const olgaRow = admin.locator('#sessions tbody tr', { hasText: 'olga' });
  assert.equal(await olgaRow.count(), 1, 'olga has one live session');
  assert.match(await admin.textContent('#users'), /aude\s*auditor/);
  await shot(admin, '12-users-sessions');
  await olgaRow.locator('button.end-session').click();
  await admin.waitForFunction(() => ![...document.querySelectorAll('#sessions tbody tr, p.muted')].some((r) => r.textContent.startsWith('olga')));
  await olga.goto(`${base}/#/review`);
  await olga.reload();
  await olga.waitForSelector('#username');
  await shot(olga, '13-session-ended-by-admin');
  step('the administrator ended olga\'s session from the Users page; her page asks her to log in');
} catch (e) {
  failed = e;
} finally {
  await browser.close();
  await stop();
}
if (failed) {
  console.error(`browser test FAILED: ${failed.stack || failed}\n--- civitas run output ---\n${out.log}`);
  process.exit(1);
}
console.log(`browser test: passed; screenshots in ${ART}`);
