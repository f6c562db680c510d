// Drives TensorBoard's Learning Rate tab in headless Chromium and prints one
// JSON report on stdout for tests/browser/test_tab.py to assert.
//
//   node tests/browser/drive_tab.mjs --url http://127.0.0.1:PORT --out test-artifacts
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CANVAS_INK, parseArgs, pluginFrame, printReport, repo, waitUntil, withBrowser } from './lib.mjs';

const { formatLR } = await import(path.join(repo, 'frontend', 'src', 'format.js'));

const args = parseArgs();
const base = args.url.replace(/\/$/, '');
const outDir = path.resolve(args.out || path.join(repo, 'test-artifacts'));
mkdirSync(outDir, { recursive: true });

const report = { steps: [] };

function step(name, data) {
  report.steps.push(name);
  Object.assign(report, data);
}

const inkScript = (role) => `(${CANVAS_INK})('${role}')`;

async function charts(frame) {
  return frame.evaluate(`(() => {
    const box = (role) => document.querySelector('.lr-chart[data-role="' + role + '"]');
    const range = (role) => { const b = box(role); return b && b.dataset.xMin !== undefined ? [Number(b.dataset.xMin), Number(b.dataset.xMax)] : null; };
    return {
      loss: { ink: ${inkScript('loss')}, range: range('loss'), draws: Number(box('loss')?.dataset.draws || 0) },
      lr: { ink: ${inkScript('lr')}, range: range('lr'), draws: Number(box('lr')?.dataset.draws || 0) },
      // Reductions at one step share a line (data-count of them).
      reductionMarkers: [...document.querySelectorAll('.lr-chart[data-role="loss"] .lr-marker[data-kind="reduction"]')]
        .map((m) => Number(m.dataset.count))
        .reduce((a, b) => a + b, 0),
      eventRows: document.querySelectorAll('.lr-events tbody tr').length,
      axis: document.querySelector('.lr-app')?.dataset.axis,
      state: document.querySelector('.lr-app')?.dataset.state,
      details: document.querySelector('.lr-app')?.dataset.details,
      dark: Boolean(document.documentElement && document.documentElement.classList.contains('lr-dark')),
    };
  })()`);
}

const waitFor = (frame, predicate, what, timeout = 20000) => waitUntil(frame, charts, predicate, what, { timeout });

await withBrowser(
  report,
  async (page) => {
    // 1. The tab opens at /#learning_rate.
    await page.goto(`${base}/#learning_rate`);
    const frame = await pluginFrame(page);
    let c = await waitFor(
      frame,
      (s) => s.state === 'ready' && s.details === 'drawn' && s.loss.ink > 0 && s.lr.ink > 0,
      'both charts and the tables under them drawn',
    );
    // The tab's requests in the order they started: [path and query, start, end].
    const requests = await frame.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .map((e) => [new URL(e.name).pathname.split('/').pop() + new URL(e.name).search, e.startTime, e.responseEnd]),
    );
    step('open', { url: page.url(), frameUrl: frame.url(), initial: c, requests });

    // 2. What the routes say, fetched from inside the tab (same base URL).
    const routes = await frame.evaluate(async () => {
      const selected = [...document.querySelectorAll('.lr-run')]
        .filter((r) => r.querySelector('input').checked)
        .map((r) => r.dataset.run);
      const runs = await (await fetch('./runs')).json();
      const events = {};
      for (const run of selected)
        events[run] = (await (await fetch(`./events?${new URLSearchParams({ run })}`)).json()).events;
      return {
        selected,
        runs: runs.runs.map((r) => r.run),
        runsFinder: Object.fromEntries(runs.runs.map((r) => [r.run, r.finder])),
        events,
      };
    });
    const all = Object.values(routes.events).flat();
    step('routes', {
      runs: routes.runs,
      runsFinder: routes.runsFinder,
      selected: routes.selected,
      reductions: all.filter((e) => e.kind === 'reduction').length,
      events: all.length,
    });

    // 2b. The LR range test of the "finder" run: its chart draws, and the
    // suggestions it shows are the route's, formatted. A failure here is
    // reported without stopping the other steps.
    try {
      const ink = inkScript('finder');
      const deadline = Date.now() + 20000;
      let inked = 0;
      while ((inked = await frame.evaluate(ink)) <= 1000 && Date.now() < deadline) await page.waitForTimeout(100);
      const seen = await frame.evaluate(async () => {
        const route = await (await fetch(`./finder?${new URLSearchParams({ run: 'finder' })}`)).json();
        const text = (kind) => document.querySelector(`.lr-finder [data-suggestion="${kind}"]`)?.textContent ?? null;
        return {
          route: route.tests[0],
          text: { valley: text('valley'), steepest: text('steepest') },
          // A label's text, or an elided label's (a dot) full text.
          markers: [...document.querySelectorAll('.lr-chart[data-role="finder"] .lr-marker-label')].map(
            (m) => m.dataset.text || m.textContent,
          ),
        };
      });
      seen.ink = inked;
      const t = seen.route;
      step('finder', {
        finder: {
          ink: seen.ink,
          points: t.lr.length,
          route: { valley: t.valley, steepest: t.steepest },
          formatted: { valley: formatLR(t.valley), steepest: formatLR(t.steepest) },
          text: seen.text,
          markers: seen.markers,
        },
      });
    } catch (e) {
      report.finderError = String(e && e.stack ? e.stack : e);
    }

    // 3. The hostile run name is text: listed verbatim, no <img> anywhere.
    const hostile = await frame.evaluate(() => {
      const names = [...document.querySelectorAll('.lr-run-name')].map((n) => n.textContent);
      return {
        runNames: names,
        imgCount: document.querySelectorAll('img').length,
        legendHasName: [...document.querySelectorAll('.u-legend .u-label, .lr-legend-run')].some((n) =>
          [n.textContent, n.title].join(' ').includes('<img src=x onerror=alert(1)>'),
        ),
      };
    });
    step('hostile', { hostile });

    await page.screenshot({ path: path.join(outDir, 'tab-light.png'), fullPage: true });

    // 4. Clicking an event row zooms both charts around it.
    const before = (await charts(frame)).loss.range;
    const rowIndex = await frame.evaluate(() => {
      const rows = [...document.querySelectorAll('.lr-events tbody tr')];
      const i = rows.findIndex((r) => r.dataset.kind === 'reduction');
      return i >= 0 ? i : 0;
    });
    await frame.locator('.lr-events tbody tr').nth(rowIndex).click();
    c = await waitFor(
      frame,
      (s) => s.loss.range && before && (s.loss.range[0] !== before[0] || s.loss.range[1] !== before[1]),
      'x range change',
    );
    step('rowClick', { rangeBefore: before, rangeAfter: c.loss.range, lrRangeAfter: c.lr.range });

    // 5. Refresh keeps the zoom.
    const zoomed = c.loss.range;
    const draws = c.loss.draws;
    await frame.locator('[data-control="refresh"]').click();
    await frame.waitForFunction(() => /Updated/.test(document.querySelector('.lr-status')?.textContent || ''));
    await page.waitForTimeout(300);
    c = await charts(frame);
    step('refresh', {
      rangeAfterRefresh: c.loss.range,
      rangeBeforeRefresh: zoomed,
      drawsAfterRefresh: c.loss.draws,
      drawsBeforeRefresh: draws,
    });

    // 5b. TensorBoard's own reload button reloads the tab's data (through the
    // plugin message channel), keeping the zoom too.
    const drawsBeforeReload = c.loss.draws;
    await page.locator('button.reload-button').first().click();
    c = await waitFor(frame, (s) => s.loss.draws > drawsBeforeReload, 'a redraw after TensorBoard reload');
    step('tbReload', {
      rangeAfterTbReload: c.loss.range,
      drawsBeforeTbReload: drawsBeforeReload,
      drawsAfterTbReload: c.loss.draws,
    });

    // 6. The epoch axis.
    await frame.locator('[data-control="reset-zoom"]').click();
    await frame.locator('button[data-axis="epoch"]').click();
    c = await waitFor(frame, (s) => s.axis === 'epoch' && s.loss.ink > 0 && s.lr.ink > 0, 'epoch axis drawn');
    const epochsTable = await frame.evaluate(
      async (run) => (await (await fetch(`./lr?${new URLSearchParams({ run })}`)).json()).epochs,
      routes.selected[0],
    );
    step('epochAxis', { epochAxis: c, epochs: epochsTable });
    await frame.locator('button[data-axis="step"]').click();
    await waitFor(frame, (s) => s.axis === 'step' && s.loss.ink > 0, 'step axis again');

    // 7. Dark mode: TensorBoard picks the system preference when it starts
    // (and sets body.dark-mode); the tab follows TensorBoard.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.reload();
    const darkFrame = await pluginFrame(page);
    c = await waitFor(darkFrame, (s) => s.dark && s.state === 'ready' && s.loss.ink > 0 && s.lr.ink > 0, 'dark mode');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(outDir, 'tab-dark.png'), fullPage: true });
    const hostDark = await page.evaluate(() => document.body.classList.contains('dark-mode'));
    step('dark', { dark: c.dark, hostDark });
  },
  { executablePath: args.chromium, colorScheme: 'light' },
);
printReport(report);
