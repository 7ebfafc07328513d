// What the browser tests share: the real civitas binary (made users, a running
// `civitas run` serving the command centre), Debian's Chromium through
// playwright-core with the required flags, logged-in sessions, screenshots.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = resolve(ROOT, process.env.CIVITAS_BIN || 'target/debug/civitas');
export const VAR = resolve(ROOT, process.env.CIVITAS_VAR || 'var');
export const ART = join(ROOT, 'web/test-artifacts');
export const PW = 'correct horse battery staple';
mkdirSync(ART, { recursive: true });

export const freePort = () => new Promise((ok) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });

export const stepper = (name) => (m) => console.log(`${name}: ${m}`);

/** The [store], [vision] and [api] sections every test config starts with. */
export function baseConfig(dir, port) {
  return `[store]
path = "${join(dir, 'civitas.db')}"
audit_key = "${join(dir, 'keys/audit.key')}"
[vision]
models_dir = "${join(VAR, 'models')}"
ort_library = "${join(VAR, 'lib/libonnxruntime.so.1.31.1')}"
[api]
listen = "127.0.0.1:${port}"
`;
}

/** Runs a civitas subcommand (as `user`, when given) and returns its stdout. */
export function civitas(cfg, args, user, extraEnv = {}) {
  const env = { ...process.env, CIVITAS_NEW_PASSWORD: PW, ...extraEnv };
  delete env.CIVITAS_USER;
  if (user) { env.CIVITAS_USER = user; env.CIVITAS_PASSWORD = PW; }
  return execFileSync(BIN, ['--config', cfg, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `civitas init` plus the users every test uses. */
export function makeUsers(cfg) {
  civitas(cfg, ['init', '--admin', 'admin']);
  for (const [u, r] of [['olga', 'operator'], ['omar', 'operator'], ['sam', 'supervisor'], ['aude', 'auditor']]) {
    civitas(cfg, ['user', 'add', u, '--role', r], 'admin');
  }
}

/** Starts `civitas run --keep-serving` and waits for the command centre on `port`. */
export async function startRun(cfg, port) {
  const run = spawn(BIN, ['--config', cfg, 'run', '--keep-serving'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { log: '' };
  run.stdout.on('data', (d) => { out.log += d; });
  run.stderr.on('data', (d) => { out.log += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { const r = await fetch(`${base}/`); if (r.ok) break; } catch { /* not up yet */ }
    if (i > 300) throw new Error(`the command centre did not come up:\n${out.log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => { run.kill('SIGINT'); await new Promise((r) => run.on('exit', r)); };
  return { base, out, stop };
}

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A browser context logged in as `user`. */
export async function session(browser, base, user) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => { throw new Error(`page error for ${user}: ${e.message}`); });
  await page.goto(`${base}/`);
  await page.fill('#username', user);
  await page.fill('#password', PW);
  await page.click('button[type=submit]');
  await page.waitForSelector('#who');
  return page;
}

export const shot = (page, name) => page.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
