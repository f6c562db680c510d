// Compares the runs of a logdir in the Learning Rate tab, in light and dark
// mode: every run selected, the run table, the legend, the marker labels
// (their boxes measured in the page), sorting by best value, a row click
// highlighting its run, the small-multiples grid. One JSON report for
// test_compare.py; screenshots in --out.
//
//   node tests/browser/drive_compare.mjs --url URL --out DIR --name demo --runs N
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, pluginFrame, printReport, waitUntil, withBrowser } from './lib.mjs';

const args = parseArgs();
const base = args.url.replace(/\/$/, '');
const outDir = path.resolve(args.out);
const runs = Number(args.runs);
mkdirSync(outDir, { recursive: true });

const READ = () => {
  const boxes = (sel) => [...document.querySelectorAll(sel)].map((n) => n.getBoundingClientRect());
  const labels = boxes('.lr-chart[data-role="loss"] .lr-marker-label').filter((b) => b.width > 0);
  let overlaps = 0;
  for (let i = 0; i < labels.length; i++)
    for (let j = i + 1; j < labels.length; j++) {
      const a = labels[i];
      const b = labels[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
    }
  const loss = document.querySelector('.lr-chart[data-role="loss"]');
  const lr = document.querySelector('.lr-chart[data-role="lr"]');
  return {
    state: document.querySelector('.lr-app')?.dataset.state,
    details: document.querySelector('.lr-app')?.dataset.details,
    rows: [...document.querySelectorAll('.lr-runtable tbody tr')].map((r) => r.dataset.run),
    legend: [...document.querySelectorAll('.lr-legend-run')].map((r) => r.dataset.run),
    drawn: Number(loss?.dataset.draws || 0) > 0 && Number(lr?.dataset.draws || 0) > 0,
    findingsLoaded: ![...document.querySelectorAll('.lr-runtable td[data-col="findings"]')].some(
      (td) => td.textContent === '…',
    ),
    labels: labels.length,
    dots: document.querySelectorAll('.lr-chart[data-role="loss"] .lr-marker-dot').length,
    markers: Number(loss?.querySelector('.uplot')?.dataset.markers || 0),
    overlaps,
    highlight: document.querySelector('.lr-app')?.dataset.highlight || '',
    highlightedRows: [...document.querySelectorAll('.lr-runtable tr.lr-highlighted')].map((r) => r.dataset.run),
    cells: document.querySelectorAll('.lr-multiple').length,
    gridDraws: Number(document.querySelector('.lr-multiples')?.dataset.draws || 0),
    gridCanvases: document.querySelectorAll('.lr-multiple canvas').length,
    eventRows: document.querySelectorAll('.lr-events tbody tr').length,
  };
};
const read = (frame) => frame.evaluate(READ);

async function compare(page, scheme, report) {
  await page.goto(`${base}/#learning_rate`);
  const frame = await pluginFrame(page);
  await frame.waitForSelector('.lr-run', { timeout: 30000 });
  await frame.click('button:text("All shown")');
  const seen = await waitUntil(
    frame,
    read,
    (s) => s.state === 'ready' && s.details === 'drawn' && s.rows.length === runs && s.drawn && s.findingsLoaded,
    'the run table and both charts',
    { timeout: 120000 },
  );
  await page.waitForTimeout(300);
  const shot = (what) => page.screenshot({ path: path.join(outDir, `compare-${args.name}-${what}-${scheme}.png`) });
  await shot('charts');
  const out = { first: seen };
  // Sort by best value (ascending), read the values in the order shown.
  await frame.click('.lr-runtable th[data-sort="best"]');
  out.bestAscending = await frame.evaluate(() =>
    [...document.querySelectorAll('.lr-runtable tbody td[data-col="best"]')].map((td) =>
      td.dataset.value === undefined ? null : Number(td.dataset.value),
    ),
  );
  await frame.click('.lr-runtable th[data-sort="best"]');
  out.bestDescending = await frame.evaluate(() =>
    [...document.querySelectorAll('.lr-runtable tbody td[data-col="best"]')].map((td) =>
      td.dataset.value === undefined ? null : Number(td.dataset.value),
    ),
  );
  // A row click highlights its run; the event table can follow it.
  const target = seen.rows[seen.rows.length - 1];
  await frame.click(`.lr-runtable tbody tr[data-run="${target}"] td[data-col="run"]`);
  out.target = target;
  out.highlighted = await waitUntil(frame, read, (s) => s.highlight === target, 'the highlight');
  await frame.check('[data-control="this-run-only"]');
  out.onlyRun = await frame.evaluate(() => [...document.querySelectorAll('.lr-events tbody tr')].length);
  out.onlyRunExpected = await frame.evaluate(
    async (r) => (await (await fetch(`./events?${new URLSearchParams({ run: r })}`)).json()).events.length,
    target,
  );
  await shot('highlight');
  await frame.uncheck('[data-control="this-run-only"]');
  await frame.click(`.lr-runtable tbody tr[data-run="${target}"] td[data-col="run"]`);
  out.cleared = await waitUntil(frame, read, (s) => s.highlight === '', 'the highlight cleared');
  // The small-multiples grid: a loss and an LR chart per run.
  await frame.check('[data-control="multiples"]');
  out.grid = await waitUntil(frame, read, (s) => s.cells === runs && s.gridDraws >= 2 * runs, 'the grid', {
    timeout: 60000,
  });
  await frame.evaluate(() => document.querySelector('.lr-multiples').scrollIntoView());
  await shot('grid');
  Object.assign(out, await gridZoomAndRefresh(frame));
  await frame.uncheck('[data-control="multiples"]');
  Object.assign(report, out);
}

// The x range each chart of the grid last drew (every loss and LR chart),
// the grid's draws, and whether its charts are the ones marked before.
const GRID = () => {
  const g = document.querySelector('.lr-multiples');
  const plots = [...g.querySelectorAll('.lr-multiple .lr-plot')].filter((p) => p.querySelector('canvas'));
  return {
    draws: Number(g.dataset.draws),
    zoomed: g.dataset.zoomed,
    ranges: plots.map((p) => [Number(p.dataset.xMin), Number(p.dataset.xMax)]),
    kept: plots.filter((p) => p.querySelector('canvas').marked === true).length,
  };
};

// A drag-zoom in one cell: every chart of the grid shows it; a refresh
// (what the 30 s poll does) redraws them with the new data and keeps it;
// a double-click shows the whole extent in every chart again.
async function gridZoomAndRefresh(frame) {
  const page = frame.page();
  const full = await frame.evaluate(GRID);
  const box = await frame.locator('.lr-multiple .u-over').nth(1).boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 3 });
  await page.mouse.move(box.x + box.width * 0.7, y, { steps: 3 });
  await page.mouse.up();
  const zoomed = await waitUntil(
    frame,
    () => frame.evaluate(GRID),
    (s) => s.zoomed === 'true',
    'the grid zoomed',
  );
  await frame.evaluate(() => document.querySelectorAll('.lr-multiple canvas').forEach((c) => (c.marked = true)));
  await frame.locator('[data-control="refresh"]').click();
  const refreshed = await waitUntil(
    frame,
    () => frame.evaluate(GRID),
    // Refilled (one more draw per chart), or rebuilt (its count starts again).
    (s) => s.draws >= zoomed.draws + s.ranges.length || s.draws < zoomed.draws,
    'the grid redrawn after a refresh',
    { timeout: 60000 },
  );
  // The refresh redrew the page around the grid: find the cell again.
  const after = await frame.locator('.lr-multiple .u-over').nth(1).boundingBox();
  await page.mouse.dblclick(after.x + after.width / 2, after.y + after.height / 2);
  const reset = await waitUntil(
    frame,
    () => frame.evaluate(GRID),
    (s) => s.zoomed === 'false',
    'the zoom reset',
  );
  return { gridFull: full, gridZoomed: zoomed, gridRefreshed: refreshed, gridReset: reset };
}

const report = { name: args.name };
for (const scheme of ['light', 'dark']) {
  const part = {};
  await withBrowser(part, (page) => compare(page, scheme, part), {
    executablePath: args.chromium,
    colorScheme: scheme,
  });
  report[scheme] = part;
}
report.ok = report.light.ok && report.dark.ok;
report.error = report.light.error || report.dark.error;
printReport(report);
