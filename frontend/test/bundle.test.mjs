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
    assert.deepEqual(files, ['index.js'], 'everything the tab loads is in index.js');
    const total = files.reduce((n, f) => n + statSync(path.join(outdir, f)).size, 0);
    assert.ok(total < LIMIT, `bundle is ${(total / 1024).toFixed(1)} KB, limit ${LIMIT / 1024} KB`);
    const code = readFileSync(path.join(outdir, 'index.js'), 'utf8');
    assert.match(code, /export\s*\{[^}]*\bas render\b[^}]*\}|export\s*\{\s*render\s*\}/);
    // Data only ever reaches the DOM as text.
    assert.doesNotMatch(code, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // No absolute URL: TensorBoard's CSP allows only its own origin.
    assert.doesNotMatch(code, /fetch\(\s*["'`]\//);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
