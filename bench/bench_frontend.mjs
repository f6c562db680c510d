// The browser half of bench_frontend.py: headless Chromium (Debian's, via
// playwright-core) times, interleaved, a fresh navigation to our tab and to
// TensorBoard's Scalars dashboard until their charts are drawn, and drag-
// zooms on our loss chart. Prints one JSON line.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS } from '../tests/browser/lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'frontend', 'package.json'));
const { chromium } = require('playwright-core');

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const base = arg('url').replace(/\/$/, '');
const repeats = Number(arg('repeats', 5));
const runs = Number(arg('runs', 3));
const POLL_MS = 20;
const GRID_ZOOMS = 8; // drag-zooms in the grid per navigation

// Both dashboards are watched the same way: a probe evaluated in the page
// every POLL_MS, returning performance.now() (ms since navigation start)
// once the charts are drawn.
// When TensorBoard's own app had booted (its plugins listing answered):
// what follows is the dashboard's own work.
const BOOTED = `const booted = () => {
  const e = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/data/plugins_listing'));
  return e ? e.responseEnd : null;
};`;

// The loss and LR charts (the LR range test's chart is there too, hidden
// when no run has a range test).
const MAIN_CHARTS = '.lr-chart[data-role="loss"], .lr-chart[data-role="lr"]';

// The tab's requests (made from its iframe) and the page's own, on the
// page's clock: [path, start ms, end ms] each, in start order.
const WATERFALL = `const waterfall = (f) => {
  const offset = f.contentWindow.performance.timeOrigin - performance.timeOrigin;
  const short = (name) => new URL(name).pathname.replace('/data/plugin/learning_rate/', 'lr/') + new URL(name).search;
  const own = f.contentWindow.performance.getEntriesByType('resource').map((e) => [short(e.name), e.startTime + offset, e.responseEnd + offset]);
  const page = performance.getEntriesByType('resource').filter((e) => e.name.includes('/data/')).map((e) => [short(e.name), e.startTime, e.responseEnd]);
  const frame = [['(iframe document)', offset, offset]];
  return [...page, ...frame, ...own].sort((a, b) => a[1] - b[1]).map(([n, a, b]) => [n, Math.round(a), Math.round(b)]);
};`;

const OURS_DRAWN = `(() => {
  ${BOOTED}
  ${WATERFALL}
  const f = document.querySelector('iframe');
  const d = f && f.contentDocument;
  if (!d) return null;
  const boxes = [...d.querySelectorAll(${JSON.stringify(MAIN_CHARTS)})];
  if (boxes.length !== 2 || !boxes.every((b) => Number(b.dataset.draws) > 0)) return null;
  const labels = d.querySelectorAll('.lr-legend-run').length;
  return { t: performance.now(), series: labels, booted: booted(), waterfall: waterfall(f) };
})()`;

// The same, with every run drawn (a cold server may list some runs first).
const OURS_DRAWN_ALL = (n) =>
  OURS_DRAWN.replace(
    'const labels =',
    `if (d.querySelectorAll('.lr-legend-run').length < ${n}) return null;\n  const labels =`,
  );

// TensorBoard's Scalars dashboard (Polymer, Plottable SVG in shadow roots):
// drawn when each loss chart has a line (raw + smoothed) per run.
const THEIRS_DRAWN = (expectedLines) => `(() => {
  ${BOOTED}
  const charts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'VZ-LINE-CHART2') charts.push(el);
      else if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  let lines = 0;
  for (const c of charts) {
    const paths = [];
    const w = (r) => { for (const el of r.querySelectorAll('path.line')) paths.push(el); for (const el of r.querySelectorAll('*')) if (el.shadowRoot) w(el.shadowRoot); };
    w(c.shadowRoot || c);
    lines += paths.filter((p) => (p.getAttribute('d') || '').length > 50).length;
  }
  return lines >= ${expectedLines} ? { t: performance.now(), lines, booted: booted() } : null;
})()`;

async function timeNavigation(browser, hash, probe, timeout = 120000) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e.message || e)));
  try {
    await page.goto(`${base}/${hash}`, { waitUntil: 'commit' });
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const r = await page.evaluate(probe).catch(() => null);
      if (r) return { ms: r.t, info: r, errors, page, context };
      await page.waitForTimeout(POLL_MS);
    }
    throw new Error(`${hash} never drew its charts`);
  } catch (e) {
    await context.close();
    throw e;
  }
}

async function zoomTimes(page, n) {
  const frame = page.frames().find((f) => f.url().includes('plugin_entry.html?name=learning_rate'));
  const over = frame.locator('.lr-chart[data-role="loss"] .u-over');
  const box = await over.boundingBox();
  const times = [];
  for (let i = 0; i < n; i++) {
    const armed = frame.evaluate(
      (charts) =>
        new Promise((resolve) => {
          const boxes = [...document.querySelectorAll(charts)];
          const before = boxes.map((b) => Number(b.dataset.draws));
          let t0 = null;
          window.addEventListener('mouseup', () => (t0 = performance.now()), { capture: true, once: true });
          const check = () => {
            if (t0 !== null && boxes.every((b, k) => Number(b.dataset.draws) > before[k])) {
              resolve(Math.max(...boxes.map((b) => Number(b.dataset.drawnAt))) - t0);
            } else setTimeout(check, 5);
          };
          check();
        }),
      MAIN_CHARTS,
    );
    times.push(await dragZoom(page, box, i, 0.3, armed));
  }
  return times;
}

// A drag over `span` of the chart in `box` (a little further right each
// time), the time `armed` resolves to, then a double-click back to the full range.
async function dragZoom(page, box, i, span, armed) {
  const x0 = box.x + box.width * (0.2 + 0.05 * (i % 3));
  const x1 = x0 + box.width * span;
  const y = box.y + box.height / 2;
  await page.mouse.move(x0, y);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, y, { steps: 2 });
  await page.mouse.move(x1, y, { steps: 2 });
  await page.mouse.up();
  const ms = await armed;
  await page.mouse.dblclick(box.x + box.width / 2, y);
  await page.waitForTimeout(150);
  return ms;
}

// ------------------------------------------------ comparing many runs
// `--mode compare`: every run selected (saved in the tab's storage before
// it boots), then: the run table and both charts drawn; the small-multiples
// grid drawn (one loss and one LR chart per run); drag-zooms in the grid.

const COMPARE_DRAWN = (runs, grid) => `(() => {
  ${BOOTED}
  ${WATERFALL}
  const f = document.querySelector('iframe');
  const d = f && f.contentDocument;
  if (!d) return null;
  if (d.querySelectorAll('.lr-runtable tbody tr').length !== ${runs}) return null;
  if (${grid}) {
    const g = d.querySelector('.lr-multiples');
    if (!g || Number(g.dataset.cells) !== ${runs} || Number(g.dataset.draws) < ${2 * runs}) return null;
    // The grid's own work: from the last chart route's answer (not the audit's) to the grid drawn.
    const data = f.contentWindow.performance
      .getEntriesByType('resource')
      .filter((e) => ['/lr?', '/loss?', '/events?', '/view?'].some((route) => e.name.includes(route)))
      .filter((e) => !e.name.includes('part=audit'))
      .map((e) => e.responseEnd);
    const drawAfterData = Number(g.dataset.drawnAt) - Math.max(...data);
    return { t: performance.now(), drawAfterData, booted: booted(), waterfall: waterfall(f) };
  }
  const boxes = [...d.querySelectorAll(${JSON.stringify(MAIN_CHARTS)})];
  if (boxes.length !== 2 || !boxes.every((b) => Number(b.dataset.draws) > 0)) return null;
  return { t: performance.now(), booted: booted(), waterfall: waterfall(f) };
})()`;

async function compareNavigation(browser, names, grid) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const state = JSON.stringify({ selected: names, multiples: grid });
  await context.addInitScript((s) => {
    try {
      window.localStorage.setItem('tb-lr-plugin/v1', s);
    } catch {}
  }, state);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e.message || e)));
  await page.goto(`${base}/#learning_rate`, { waitUntil: 'commit' });
  const deadline = Date.now() + 180000;
  while (Date.now() < deadline) {
    const r = await page.evaluate(COMPARE_DRAWN(names.length, grid)).catch(() => null);
    if (r) {
      const waterfall = { drawn: Math.round(r.t), booted: Math.round(r.booted), requests: r.waterfall };
      return { ms: r.t, afterBoot: r.t - r.booted, drawAfterData: r.drawAfterData, waterfall, errors, page, context };
    }
    await page.waitForTimeout(POLL_MS);
  }
  await context.close();
  throw new Error(`the ${grid ? 'grid' : 'run table and charts'} never drew`);
}

async function gridZoomTimes(page, n, runs) {
  const frame = page.frames().find((f) => f.url().includes('plugin_entry.html?name=learning_rate'));
  const over = frame.locator('.lr-multiple .u-over').first();
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  const times = [];
  for (let i = 0; i < n; i++) {
    const armed = frame.evaluate(
      (plots) =>
        new Promise((resolve) => {
          const g = document.querySelector('.lr-multiples');
          const before = Number(g.dataset.draws);
          let t0 = null;
          window.addEventListener('mouseup', () => (t0 = performance.now()), { capture: true, once: true });
          // Every chart redrawn, each on the new range (the x range it drew is on its element).
          const onRange = () => {
            const drawn = [...g.querySelectorAll('.lr-multiple .lr-plot[data-x-min]')];
            const r = (p) => `${p.dataset.xMin} ${p.dataset.xMax}`;
            return drawn.length === plots && drawn.every((p) => r(p) === `${g.dataset.xMin} ${g.dataset.xMax}`);
          };
          const check = () => {
            if (t0 !== null && Number(g.dataset.draws) >= before + plots && onRange())
              resolve(Number(g.dataset.drawnAt) - t0);
            else setTimeout(check, 5);
          };
          check();
        }),
      2 * runs,
    );
    times.push(await dragZoom(page, box, i, 0.4, armed));
  }
  return times;
}

async function compareBench(browser, result) {
  const names = JSON.parse(arg('names'));
  Object.assign(result, {
    table: [],
    tableAfterBoot: [],
    grid: [],
    gridAfterBoot: [],
    gridAfterData: [],
    gridZoom: [],
  });
  for (const grid of [false, true]) (await compareNavigation(browser, names, grid)).context.close(); // warm-up
  for (let i = 0; i < repeats; i++) {
    const t = await compareNavigation(browser, names, false);
    result.table.push(t.ms);
    result.tableAfterBoot.push(t.afterBoot);
    result.waterfall = { ...result.waterfall, table: t.waterfall };
    await t.context.close();
    const g = await compareNavigation(browser, names, true);
    result.grid.push(g.ms);
    result.gridAfterBoot.push(g.afterBoot);
    result.gridAfterData.push(g.drawAfterData);
    result.waterfall = { ...result.waterfall, grid: g.waterfall };
    result.gridZoom.push(...(await gridZoomTimes(g.page, GRID_ZOOMS, names.length)));
    if (g.errors.length) result.info.errors = g.errors;
    await g.context.close();
  }
}

const result = { ours: [], theirs: [], oursAfterBoot: [], theirsAfterBoot: [], zoom: [], info: {} };
let browser;
try {
  // launch() gives the browser a new temporary profile of its own.
  browser = await chromium.launch({
    executablePath: arg('chromium', '/usr/bin/chromium'),
    headless: true,
    args: CHROMIUM_ARGS,
  });
  if (arg('mode') === 'compare') await compareBench(browser, result);
  else if (arg('mode') === 'cold') await coldNavigation(browser, result);
  else await dashboards(browser, result);
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify(result) + '\n');

// `--mode cold --which ours|theirs`: one navigation to a TensorBoard just
// started (bench_frontend.py starts a fresh one for each), nothing cached.
async function coldNavigation(browser, result) {
  const ours = arg('which') === 'ours';
  const probe = ours ? OURS_DRAWN_ALL(runs) : THEIRS_DRAWN(2 * 3 * runs);
  const r = await timeNavigation(browser, ours ? '#learning_rate' : '#scalars', probe, 300000);
  result.cold = { ms: r.ms, afterBoot: r.ms - r.info.booted };
  if (ours)
    result.waterfall = {
      cold: { drawn: Math.round(r.ms), booted: Math.round(r.info.booted), requests: r.info.waterfall },
    };
  if (r.errors.length) result.info.errors = r.errors;
  await r.context.close();
}

async function dashboards(browser, result) {
  // Warm up both (server caches, disk) once, untimed.
  for (const [hash, probe] of [
    ['#learning_rate', OURS_DRAWN],
    ['#scalars', THEIRS_DRAWN(2 * 3 * runs)],
  ]) {
    const r = await timeNavigation(browser, hash, probe);
    if (hash === '#learning_rate')
      result.waterfall = {
        first: { drawn: Math.round(r.ms), booted: Math.round(r.info.booted), requests: r.info.waterfall },
      };
    await r.context.close();
  }
  for (let i = 0; i < repeats; i++) {
    const ours = await timeNavigation(browser, '#learning_rate', OURS_DRAWN);
    result.ours.push(ours.ms);
    result.oursAfterBoot.push(ours.ms - ours.info.booted);
    result.info.legendRuns = ours.info.series;
    result.waterfall.later = {
      drawn: Math.round(ours.ms),
      booted: Math.round(ours.info.booted),
      requests: ours.info.waterfall,
    };
    if (ours.errors.length) result.info.oursErrors = ours.errors;
    result.zoom.push(...(await zoomTimes(ours.page, 3)));
    await ours.context.close();
    // batch_loss: a train run each; epoch_loss: train + validation each; raw + smoothed lines.
    const theirs = await timeNavigation(browser, '#scalars', THEIRS_DRAWN(2 * 3 * runs));
    result.theirs.push(theirs.ms);
    result.theirsAfterBoot.push(theirs.ms - theirs.info.booted);
    result.info.scalarLines = theirs.info.lines;
    await theirs.context.close();
  }
}
