// Opens the Learning Rate tab on the six tutorial examples, one run at a
// time, and prints one JSON report of what each showed (both charts drawn,
// event rows, what the events route says) for test_examples_tab.py.
//
//   node tests/browser/drive_examples.mjs --url http://127.0.0.1:PORT --out DIR
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const require = createRequire(path.join(repo, 'frontend', 'package.json'));
const { chromium } = require('playwright-core');
const { CHROMIUM_ARGS } = await import('./chromium_args.mjs');

const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const base = arg('url').replace(/\/$/, '');
const outDir = path.resolve(arg('out'));
mkdirSync(outDir, { recursive: true });

const state = () => {
  const ink = (role) => {
    const c = document.querySelector(`.lr-chart[data-role="${role}"] canvas`);
    if (!c || !c.width) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  };
  return {
    state: document.querySelector('.lr-app')?.dataset.state,
    selected: [...document.querySelectorAll('.lr-run')]
      .filter((r) => r.querySelector('input').checked)
      .map((r) => r.dataset.run),
    loss: ink('loss'),
    lr: ink('lr'),
    eventRows: document.querySelectorAll('.lr-events tbody tr').length,
  };
};

const report = { runs: {}, consoleErrors: [], pageErrors: [] };
const profile = mkdtempSync(path.join(tmpdir(), 'tb-lr-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => m.type() === 'error' && report.consoleErrors.push(m.text()));
  page.on('pageerror', (e) => report.pageErrors.push(String(e)));
  await page.goto(`${base}/#learning_rate`);
  let frame;
  for (let i = 0; i < 300 && !frame; i++) {
    frame = page.frames().find((f) => f.url().includes('plugin_entry.html?name=learning_rate'));
    if (!frame) await page.waitForTimeout(100);
  }
  if (!frame) throw new Error('the Learning Rate iframe never appeared');
  await frame.waitForSelector('.lr-run', { timeout: 30000 });
  const runs = await frame.evaluate(() => [...document.querySelectorAll('.lr-run')].map((r) => r.dataset.run));
  report.selectedAtFirst = (await frame.evaluate(state)).selected;
  for (const run of runs) {
    await frame.click('button:text("None")');
    await frame.check(`.lr-run[data-run="${run}"] input`);
    let seen;
    const deadline = Date.now() + 30000;
    do {
      await page.waitForTimeout(150);
      seen = await frame.evaluate(state);
    } while (
      !(seen.state === 'ready' && seen.selected.length === 1 && seen.loss > 0 && seen.lr > 0) &&
      Date.now() < deadline
    );
    const events = await frame.evaluate(
      async (r) => (await (await fetch(`./events?${new URLSearchParams({ run: r })}`)).json()).events,
      run,
    );
    report.runs[run] = { ...seen, events: events.length, kinds: [...new Set(events.map((e) => e.kind))] };
    await page.screenshot({ path: path.join(outDir, `example-${run}.png`) });
  }
  report.ok = true;
} catch (e) {
  report.ok = false;
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
