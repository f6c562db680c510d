// The bundle TensorBoard loads: one ES module exporting render(), under
// 150 KB minified (everything the tab loads: uPlot, its CSS and ours are in it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from '../build.mjs';

const LIMIT = 150 * 1024;

test('the built bundle is one ES module under 150 KB that exports render()', async () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tb-lr-bundle-'));
  try {
    await build(outdir);
    const files = readdirSync(outdir);
    // index.js: the tab; report.js and report.css: the same tab over a
    // report's inlined data (tb_lr_plugin/html_report.py inlines both).
    assert.deepEqual(files.sort(), ['index.js', 'report.css', 'report.js'], 'everything the tab loads is in index.js');
    const total = statSync(path.join(outdir, 'index.js')).size;
    assert.ok(statSync(path.join(outdir, 'report.js')).size < LIMIT, 'report.js is under the limit too');
    assert.ok(total < LIMIT, `bundle is ${(total / 1024).toFixed(1)} KB, limit ${LIMIT / 1024} KB`);
    const code = readFileSync(path.join(outdir, 'index.js'), 'utf8');
    assert.match(code, /export\s*\{[^}]*\bas render\b[^}]*\}|export\s*\{\s*render\s*\}/);
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
