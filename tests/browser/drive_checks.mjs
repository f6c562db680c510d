// Hardening checks of the Learning Rate tab in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), for tests/browser/test_hardening.py.
// Prints one JSON report on stdout.
//
//   node drive_checks.mjs --scenario names --url http://127.0.0.1:PORT
//   node drive_checks.mjs --scenario many --url http://127.0.0.1:PORT --filter exp07/run07 --pick exp07/run075
//
// names: hostile run, optimizer and metric names. Selects every run and
//   reports what the tab shows (run list text and titles, legends, event
//   table), any dialog, any element or attribute the names could inject,
//   and whether a payload's script ran (window.__pwned).
// many: a logdir of hundreds of runs. Times the first draw, typing in the
//   run filter, and selecting a filtered run, and reports the list's counts.
import { CANVAS_INK, parseArgs, pluginFrame, printReport, waitUntil, withBrowser } from './lib.mjs';

const args = parseArgs();
const base = args.url.replace(/\/$/, '');
const report = { scenario: args.scenario, steps: [], timings: {} };
const FRAME_TIMEOUT = 60000;

// What the tab shows, read inside its frame.
const STATE = `(() => {
  const app = document.querySelector('.lr-app');
  const rows = [...document.querySelectorAll('.lr-run')];
  const canvasInk = ${CANVAS_INK};
  return {
    state: app ? app.dataset.state : null,
    details: app ? app.dataset.details : null,
    rows: rows.length,
    visible: rows.filter((r) => !r.hidden).length,
    visibleRuns: rows.filter((r) => !r.hidden).map((r) => r.dataset.run),
    checked: rows.filter((r) => r.querySelector('input').checked).map((r) => r.dataset.run),
    count: document.querySelector('.lr-run-count')?.textContent || '',
    lossInk: canvasInk('loss'),
    lrInk: canvasInk('lr'),
    legend: [...document.querySelectorAll('.u-legend .u-label, .lr-legend-run')].map((n) => [n.textContent, n.title].join(' ')),
  };
})()`;

const state = (frame) => frame.evaluate(STATE);

function waitFor(frame, predicate, what, timeout = 60000) {
  return waitUntil(frame, state, predicate, what, { timeout, every: 50 });
}

// Everything a name could have injected, in one document.
const INJECTED = `(() => ({
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  pwnElements: document.querySelectorAll('.pwn, #pwn').length,
  handlerAttributes: [...document.querySelectorAll('*')].filter((n) => [...n.attributes].some((a) => /^on/i.test(a.name))).length,
  payloadScripts: [...document.querySelectorAll('script')].filter((s) => /__pwned|alert\\(/.test(s.textContent)).length,
  images: document.querySelectorAll('img').length,
}))()`;

async function names(page) {
  await page.goto(`${base}/#learning_rate`);
  const frame = await pluginFrame(page, FRAME_TIMEOUT);
  await waitFor(frame, (s) => s.state === 'ready' && s.rows > 0, 'the tab ready');
  report.steps.push('open');
  // Show every run, so every optimizer and metric name is drawn.
  await frame.locator('.lr-run-actions button').first().click();
  const all = await waitFor(
    frame,
    (s) => s.checked.length === s.rows && s.state === 'ready' && s.details === 'drawn' && s.lossInk > 0 && s.lrInk > 0,
    'every run drawn',
  );
  await page.waitForTimeout(500); // the audit answers and the diagnosis panel
  report.steps.push('all');
  const shown = await frame.evaluate(() => ({
    runNames: [...document.querySelectorAll('.lr-runs .lr-run-name')].map((n) => ({
      text: n.textContent,
      title: n.title,
    })),
    tableText: [...document.querySelectorAll('.lr-events tbody td')].map((n) => n.textContent),
    markerTitles: [...document.querySelectorAll('.lr-marker-label, .lr-marker')].map((n) => n.title).filter(Boolean),
    findings: [...document.querySelectorAll('.lr-finding-msg')].map((n) => n.textContent),
    exportHrefs: [...document.querySelectorAll('.lr-export a')].map((a) => a.href),
    exportNames: [...document.querySelectorAll('.lr-export .lr-run-name')].map((n) => n.textContent),
    documentTitle: document.title,
  }));
  // Hover and click through the list and the table: a payload waiting for
  // an event handler would run now.
  const rowCount = await frame.locator('.lr-events tbody tr').count();
  for (let i = 0; i < Math.min(rowCount, 6); i++) await frame.locator('.lr-events tbody tr').nth(i).hover();
  for (let i = 0; i < all.rows; i++) await frame.locator('.lr-runs .lr-run-name').nth(i).hover();
  await page.waitForTimeout(300);
  report.shown = { ...shown, legend: all.legend, rows: all.rows };
  report.injected = { frame: await frame.evaluate(INJECTED), top: await page.evaluate(INJECTED) };
  report.topTitle = await page.title();
  report.steps.push('checked');
}

async function many(page) {
  const t0 = Date.now();
  await page.goto(`${base}/#learning_rate`);
  const frame = await pluginFrame(page, FRAME_TIMEOUT);
  let s = await waitFor(
    frame,
    (x) => x.state === 'ready' && x.details === 'drawn' && x.rows > 0 && x.lossInk > 0 && x.lrInk > 0,
    'the first draw',
    90000,
  );
  report.timings.firstDrawMs = Date.now() - t0;
  report.initial = { rows: s.rows, visible: s.visible, checked: s.checked, count: s.count };
  report.steps.push('open');

  // Type the filter one key at a time, as a user does.
  const filter = frame.locator('input.lr-filter');
  const t1 = Date.now();
  await filter.pressSequentially(args.filter, { delay: 30 });
  const typed = Date.now();
  s = await waitFor(
    frame,
    (x) => x.visible < x.rows && x.visibleRuns.every((r) => new RegExp(args.filter, 'i').test(r)),
    'the list filtered',
    10000,
  );
  report.timings.typingMs = typed - t1;
  report.timings.filterAfterLastKeyMs = Date.now() - typed;
  report.filtered = { rows: s.rows, visible: s.visible, visibleRuns: s.visibleRuns, count: s.count };
  report.steps.push('filter');

  // Select one of the filtered runs: it is loaded and drawn.
  const t2 = Date.now();
  await frame.locator(`.lr-run[data-run="${args.pick}"] input`).check();
  s = await waitFor(
    frame,
    (x) => x.checked.includes(args.pick) && x.legend.some((l) => l.includes(args.pick)) && x.lossInk > 0,
    'the picked run drawn',
    30000,
  );
  report.timings.selectMs = Date.now() - t2;
  report.picked = { checked: s.checked, count: s.count, legendHasPick: s.legend.some((l) => l.includes(args.pick)) };
  report.steps.push('select');

  // Clearing the filter shows every run again.
  const t3 = Date.now();
  await filter.fill('');
  s = await waitFor(frame, (x) => x.visible === x.rows, 'the list unfiltered', 10000);
  report.timings.clearMs = Date.now() - t3;
  report.cleared = { visible: s.visible, count: s.count };
  report.steps.push('clear');
}

await withBrowser(
  report,
  async (page) => {
    if (args.scenario === 'names') await names(page);
    else if (args.scenario === 'many') await many(page);
    else throw new Error(`unknown scenario ${args.scenario}`);
  },
  { executablePath: args.chromium, profilePrefix: 'tb-lr-checks-' },
);
printReport(report);
