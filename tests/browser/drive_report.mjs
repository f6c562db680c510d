// Opens a report written by `tb-lr-audit --html` from file:// in headless
// Chromium with the network off, clicks through it, and prints one JSON
// report on stdout for tests/browser/test_report_in_browser.py (and bench/) to assert.
//
//   node tests/browser/drive_report.mjs --file report.html --out test-artifacts
//        [--name report] [--select-all 1] [--download RUN] [--zoom 1]
//        [--frame 1]   the report is in an iframe of the page (a notebook output)
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CANVAS_INK, parseArgs, printReport, repo, waitUntil, withBrowser } from './lib.mjs';

const args = parseArgs();
const url = pathToFileURL(path.resolve(args.file)).href;
const outDir = path.resolve(args.out || path.join(repo, 'test-artifacts'));
const name = args.name || 'report';
mkdirSync(outDir, { recursive: true });

const report = { requests: [], blocked: [], steps: [] };

const readState = (target) =>
  target.evaluate(`(() => {
  const canvasInk = ${CANVAS_INK};
  const box = (role) => document.querySelector('.lr-chart[data-role="' + role + '"]');
  const range = (role) => { const b = box(role); return b && b.dataset.xMin !== undefined ? [Number(b.dataset.xMin), Number(b.dataset.xMax)] : null; };
  const markers = {};
  // Events of one kind at one step share a line: data-count of them.
  for (const m of document.querySelectorAll('.lr-chart[data-role="loss"] .lr-marker'))
    markers[m.dataset.kind] = (markers[m.dataset.kind] || 0) + Number(m.dataset.count || 1);
  return {
    state: document.querySelector('.lr-app')?.dataset.state,
    details: document.querySelector('.lr-app')?.dataset.details,
    loss: { ink: canvasInk('loss'), range: range('loss') },
    lr: { ink: canvasInk('lr'), range: range('lr') },
    markers,
    dark: document.documentElement.classList.contains('lr-dark'),
    background: getComputedStyle(document.body).backgroundColor,
    selected: [...document.querySelectorAll('.lr-run')].filter((r) => r.querySelector('input').checked).map((r) => r.dataset.run),
    runNames: [...document.querySelectorAll('.lr-run .lr-run-name')].map((n) => n.textContent),
    rows: [...document.querySelectorAll('.lr-events tbody tr')].map((tr) => ({ kind: tr.dataset.kind, cells: [...tr.cells].map((td) => td.textContent) })),
    findings: [...document.querySelectorAll('.lr-finding')].map((li) => ({ severity: li.dataset.severity, message: li.querySelector('.lr-finding-msg')?.textContent })),
    imgCount: document.querySelectorAll('img').length,
    // One entry per run; its title lists the run's series (optimizers, metrics).
    legend: [...document.querySelectorAll('.u-legend .u-label, .lr-legend-run')].map((n) =>
      [n.textContent, n.title].join(' '),
    ),
    tableText: [...document.querySelectorAll('.lr-events td')].map((n) => n.textContent),
    exportNames: [...document.querySelectorAll('.lr-exports .lr-run-name')].map((n) => n.textContent),
    injected: {
      pwned: window.__pwned ?? null,
      pwnElements: document.querySelectorAll('.pwn').length,
      handlerAttributes: [...document.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
      scripts: document.scripts.length,
    },
    csp: window.__csp || [],
  };
})()`);

// The document the report draws in: the page, or its iframe (--frame).
function target(page) {
  if (!args.frame) return page.mainFrame();
  return page.frames().find((f) => f !== page.mainFrame()) || page.mainFrame();
}

const drawn = (s) => s.state === 'ready' && s.details === 'drawn' && s.loss.ink > 0 && s.lr.ink > 0;

async function open(page, colorScheme) {
  await page.emulateMedia({ colorScheme });
  const t0 = Date.now();
  await page.goto(url);
  // Polls the frame it finds each time: a notebook's iframe appears late.
  const s = await waitUntil(page.mainFrame(), () => readState(target(page)), drawn, 'both charts drawn', {
    timeout: 30000,
    every: 20,
  });
  return { s, ms: Date.now() - t0 };
}

async function selectAll(page) {
  const t = target(page);
  await t.locator('.lr-run-actions button', { hasText: 'All shown' }).click();
  await waitUntil(t, readState, (x) => x.selected.length === x.runNames.length && drawn(x), 'every run drawn');
  await page.waitForTimeout(200);
  return readState(t);
}

async function zoom(page, s) {
  const t = target(page);
  const before = s.loss.range;
  const i = Math.max(
    s.rows.findIndex((r) => r.kind === 'reduction'),
    0,
  );
  await t.locator('.lr-events tbody tr').nth(i).click();
  const z = await waitUntil(
    t,
    readState,
    (x) => x.loss.range && before && (x.loss.range[0] !== before[0] || x.loss.range[1] !== before[1]),
    'zoom',
  );
  await t.locator('[data-control="reset-zoom"]').click();
  return { before, after: z.loss.range, lrAfter: z.lr.range };
}

// The CSV and JSON buttons build the export from the inlined data.
async function download(page, run) {
  const t = target(page);
  const item = t.locator('.lr-exports li').filter({ has: t.getByText(run, { exact: true }) });
  const out = {};
  for (const format of ['csv', 'json']) {
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      item.locator(`a[data-format="${format}"]`).first().click(),
    ]);
    const saved = path.join(outDir, `${name}-download.${format}`);
    await file.saveAs(saved);
    out[format] = { file: saved, suggested: file.suggestedFilename(), bytes: readFileSync(saved).length };
  }
  return out;
}

await withBrowser(
  report,
  async (page) => {
    const context = page.context();
    await context.setOffline(true);
    // Anything but the file itself is a request the report must not make.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      report.blocked.push(u);
      return route.abort();
    });
    page.on('request', (r) => report.requests.push(r.url()));
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
      );
    });

    let { s, ms } = await open(page, 'light');
    report.firstDrawMs = ms;
    report.initial = s;
    if (args['select-all']) s = await selectAll(page);
    report.all = s;
    await page.screenshot({ path: path.join(outDir, `${name}-light.png`) });
    report.steps.push('light');
    if (args.zoom && s.rows.length) report.zoom = await zoom(page, s);
    if (args.download) report.downloads = await download(page, args.download);

    ({ s } = await open(page, 'dark'));
    if (args['select-all']) s = await selectAll(page);
    report.dark = s;
    await page.screenshot({ path: path.join(outDir, `${name}-dark.png`) });
    report.steps.push('dark');
  },
  { executablePath: args.chromium, profilePrefix: 'tb-lr-report-' },
);
printReport(report);
