// Time from an operator opening an incident to it appearing on a second
// operator's console (Server-Sent Events → the incidents list redrawn), in
// Debian's Chromium, against the civitas binary given by CIVITAS_BIN.
// Opening from a confirmed match takes the same path after one more check in
// the same transaction. Prints JSON: p50/p95/max over N incidents.
//   CIVITAS_BIN=target/release/civitas CIVITAS_VAR=var node bench/incident_latency.mjs [N]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VAR, freePort, baseConfig, makeUsers, startRun, launch, session } from '../web/tests/harness.mjs';

const N = Number(process.argv[2] || 30);
const dir = mkdtempSync(join(tmpdir(), 'civitas-bench-incidents-'));
const port = await freePort();
const cfg = join(dir, 'civitas.toml');
writeFileSync(cfg, `${baseConfig(dir, port)}[[incident_type]]
id = "robbery"
label = "Robbery in progress"
priority = 1
sop = ["Confirm the location"]
[[camera]]
id = "plaza"
name = "Plaza"
url = "${join(VAR, 'demo/demo-camera.mp4')}"
fps = 1.0
realtime = false
latitude = -0.2202
longitude = -78.5123
purpose = "benchmark"
owner = "benchmark"
`);
makeUsers(cfg);
const { base, stop } = await startRun(cfg, port);
const browser = await launch();
const ms = [];
try {
  const a = await session(browser, base, 'olga');
  const b = await session(browser, base, 'omar');
  await b.goto(`${base}/#/incidents`);
  await b.waitForSelector('#incident-list table, #incident-list p');
  for (let i = 0; i < N; i++) {
    const t0 = Date.now();
    const id = await a.evaluate(async () => {
      const me = await (await fetch('/api/v1/session')).json();
      const r = await fetch('/api/v1/incidents', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: JSON.stringify({ type: 'robbery', latitude: -0.2208, longitude: -78.5118 }) });
      return (await r.json()).id;
    });
    await b.waitForSelector(`#inc-${id}`, { timeout: 10_000 });
    ms.push(Date.now() - t0);
  }
} finally {
  await browser.close();
  await stop();
}
ms.sort((x, y) => x - y);
const q = (p) => ms[Math.round((ms.length - 1) * p)];
console.log(JSON.stringify({ incidents: N, open_to_second_console_ms: { p50: q(0.5), p95: q(0.95), max: ms[ms.length - 1] } }, null, 2));
