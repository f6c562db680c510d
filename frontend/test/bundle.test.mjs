// What TensorBoard loads: index.js, a small ES module exporting render() that
// sends the first request and imports app.js, the tab (uPlot, its CSS and
// ours), under 150 KB minified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from '../build.mjs';

const LIMIT = 150 * 1024;

test('the built entry is a small ES module exporting render(), the tab it imports under 150 KB', async () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tb-lr-bundle-'));
  try {
    await build(outdir);
    const files = readdirSync(outdir);
    // index.js: the entry; app.js: the tab; report.js and report.css: the
    // same tab over a report's inlined data (tb_lr_plugin/html_report.py inlines both).
    assert.deepEqual(files.sort(), ['app.js', 'index.js', 'report.css', 'report.js'], 'the tab is index.js and app.js');
    const total = statSync(path.join(outdir, 'app.js')).size;
    assert.ok(statSync(path.join(outdir, 'report.js')).size < LIMIT, 'report.js is under the limit too');
    assert.ok(total < LIMIT, `bundle is ${(total / 1024).toFixed(1)} KB, limit ${LIMIT / 1024} KB`);
    const exportsRender = /export\s*\{[^}]*\bas render\b[^}]*\}|export\s*\{\s*render\s*\}/;
    const entry = readFileSync(path.join(outdir, 'index.js'), 'utf8');
    assert.match(entry, exportsRender);
    // The first request leaves before the tab's code is fetched: the entry holds none of it.
    assert.ok(entry.length < 4096, `the entry is ${entry.length} bytes`);
    assert.match(entry, /import\(\s*["']\.\/static\/app\.js["']\s*\)/);
    assert.doesNotMatch(entry, /uPlot|innerHTML/);
    const code = readFileSync(path.join(outdir, 'app.js'), 'utf8');
    assert.match(code, exportsRender);
    // Data only ever reaches the DOM as text.
    assert.doesNotMatch(code, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // No absolute URL: TensorBoard's CSP allows only its own origin.
    assert.doesNotMatch(code, /fetch\(\s*["'`]\//);
    // The report inlines report.js in a <script> element (the browser test
    // checks that it makes no request).
    const report = readFileSync(path.join(outdir, 'report.js'), 'utf8');
    assert.ok(!/<\/script/i.test(report), 'report.js can be inlined');
    assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(report));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
