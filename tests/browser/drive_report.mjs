// Opens a report written by `tb-lr-audit --html` from file:// in headless
// Chromium with the network off, clicks through it, and prints one JSON
// report on stdout for tests/browser/test_report.py (and bench/) to assert.
//
//   node tests/browser/drive_report.mjs --file report.html --out test-artifacts
//        [--name report] [--select-all 1] [--download RUN] [--zoom 1]
//        [--frame 1]   the report is in an iframe of the page (a notebook output)
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM_ARGS } from './chromium_args.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const require = createRequire(path.join(repo, 'frontend', 'package.json'));
const { chromium } = require('playwright-core');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const file = path.resolve(args.file);
const url = pathToFileURL(file).href;
const outDir = path.resolve(args.out || path.join(repo, 'test-artifacts'));
const name = args.name || 'report';
const executablePath = args.chromium || process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(outDir, { recursive: true });

const result = { consoleErrors: [], pageErrors: [], dialogs: [], requests: [], blocked: [], steps: [] };
const profile = mkdtempSync(path.join(tmpdir(), 'tb-lr-report-'));
let context;

const inkScript = (role) => `(() => {
  const c = document.querySelector('.lr-chart[data-role="${role}"] canvas');
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
})()`;

const stateScript = `(() => {
  const box = (role) => document.querySelector('.lr-chart[data-role="' + role + '"]');
  const range = (role) => { const b = box(role); return b && b.dataset.xMin !== undefined ? [Number(b.dataset.xMin), Number(b.dataset.xMax)] : null; };
  const markers = {};
  for (const m of document.querySelectorAll('.lr-chart[data-role="loss"] .lr-marker')) markers[m.dataset.kind] = (markers[m.dataset.kind] || 0) + 1;
  return {
    state: document.querySelector('.lr-app')?.dataset.state,
    loss: { ink: ${inkScript('loss')}, range: range('loss') },
    lr: { ink: ${inkScript('lr')}, range: range('lr') },
    markers,
    dark: document.documentElement.classList.contains('lr-dark'),
    background: getComputedStyle(document.body).backgroundColor,
    selected: [...document.querySelectorAll('.lr-run')].filter((r) => r.querySelector('input').checked).map((r) => r.dataset.run),
    runNames: [...document.querySelectorAll('.lr-run .lr-run-name')].map((n) => n.textContent),
    rows: [...document.querySelectorAll('.lr-events tbody tr')].map((tr) => ({ kind: tr.dataset.kind, cells: [...tr.cells].map((td) => td.textContent) })),
    findings: [...document.querySelectorAll('.lr-finding')].map((li) => ({ severity: li.dataset.severity, message: li.querySelector('.lr-finding-msg')?.textContent })),
    imgCount: document.querySelectorAll('img').length,
    csp: window.__csp || [],
  };
})()`;

// The document the report draws in: the page, or its iframe (--frame).
function target(page) {
  if (!args.frame) return page;
  return page.frames().find((f) => f !== page.mainFrame()) || page;
}

async function waitFor(page, predicate, what, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await target(page)
      .evaluate(stateScript)
      .catch(() => null);
    if (!last) {
      await page.waitForTimeout(25);
      continue;
    }
    if (predicate(last)) return last;
    await page.waitForTimeout(25);
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last).slice(0, 2000)}`);
}

async function open(colorScheme) {
  const page = await context.newPage();
  await page.emulateMedia({ colorScheme });
  page.on('console', (m) => {
    if (m.type() === 'error') result.consoleErrors.push(`${m.text()} @ ${m.location().url || ''}`);
  });
  page.on('pageerror', (e) => result.pageErrors.push(String(e && e.message ? e.message : e)));
  page.on('dialog', async (d) => {
    result.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('request', (r) => result.requests.push(r.url()));
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const t0 = Date.now();
  await page.goto(url);
  const s = await waitFor(page, (s) => s.state === 'ready' && s.loss.ink > 0 && s.lr.ink > 0, 'both charts drawn');
  return { page, s, ms: Date.now() - t0 };
}

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
    acceptDownloads: true,
    offline: true,
  });
  // Anything but the file itself is a request the report must not make.
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    result.blocked.push(u);
    return route.abort();
  });

  // 1. Light: both charts draw.
  let { page, s, ms } = await open('light');
  result.firstDrawMs = ms;
  result.initial = s;
  result.steps.push('open');

  // 2. Every run selected: the markers and the table cover them all.
  if (args['select-all']) {
    await target(page).locator('.lr-run-actions button', { hasText: 'All shown' }).click();
    s = await waitFor(page, (x) => x.selected.length === x.runNames.length && x.loss.ink > 0, 'every run drawn');
    await page.waitForTimeout(200);
    s = await target(page).evaluate(stateScript);
  }
  result.all = s;
  result.steps.push('all');
  await page.screenshot({ path: path.join(outDir, `${name}-light.png`), fullPage: true });

  // 3. A row click zooms both charts.
  if (args.zoom && s.rows.length) {
    const before = s.loss.range;
    const i = Math.max(
      s.rows.findIndex((r) => r.kind === 'reduction'),
      0,
    );
    await target(page).locator('.lr-events tbody tr').nth(i).click();
    const z = await waitFor(
      page,
      (x) => x.loss.range && before && (x.loss.range[0] !== before[0] || x.loss.range[1] !== before[1]),
      'zoom',
    );
    result.zoom = { before, after: z.loss.range, lrAfter: z.lr.range };
    await target(page).locator('[data-control="reset-zoom"]').click();
    result.steps.push('zoom');
  }

  // 4. The CSV and JSON buttons build the export from the inlined data.
  if (args.download) {
    const t = target(page);
    const item = t.locator('.lr-exports li').filter({ has: t.getByText(args.download, { exact: true }) });
    result.downloads = {};
    for (const format of ['csv', 'json']) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        item.locator(`a[data-format="${format}"]`).first().click(),
      ]);
      const saved = path.join(outDir, `${name}-download.${format}`);
      await download.saveAs(saved);
      result.downloads[format] = {
        file: saved,
        suggested: download.suggestedFilename(),
        bytes: readFileSync(saved).length,
      };
    }
    result.steps.push('download');
  }
  await page.close();

  // 5. Dark: the system's colour scheme.
  ({ page, s } = await open('dark'));
  if (args['select-all']) {
    await target(page).locator('.lr-run-actions button', { hasText: 'All shown' }).click();
    s = await waitFor(page, (x) => x.selected.length === x.runNames.length && x.loss.ink > 0, 'every run drawn');
    await page.waitForTimeout(200);
  }
  result.dark = await target(page).evaluate(stateScript);
  await page.screenshot({ path: path.join(outDir, `${name}-dark.png`), fullPage: true });
  result.steps.push('dark');
  result.ok = true;
} catch (e) {
  result.ok = false;
  result.error = String(e && e.stack ? e.stack : e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
