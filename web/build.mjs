// Builds the console into dist/: one JS bundle (with the country boundaries
// from the world-atlas package, so the map needs no tile server), one CSS
// file and the page. The civitas binary embeds dist/ at compile time.
import * as esbuild from 'esbuild';
import { mkdirSync, copyFileSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/assets', { recursive: true });
await esbuild.build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outfile: 'dist/assets/app.js',
  loader: { '.json': 'json' },
  logLevel: 'warning',
});
copyFileSync('src/style.css', 'dist/assets/style.css');
copyFileSync('src/index.html', 'dist/index.html');
console.log('console built into web/dist');
