// What the drive_*.mjs scripts share: starting Debian's Chromium through
// playwright-core (headless, no browser downloaded, without the background
// connections this closed network refuses), finding the tab's iframe,
// reading its canvases, and printing one JSON report on stdout for the
// Python test that ran the script (tests/browser/chromium.py).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(repo, 'frontend', 'package.json'));
const { chromium } = require('playwright-core');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `--name value` pairs of the command line, as an object. */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--')) args[argv[i].slice(2)] = argv[i + 1];
  return args;
}

/**
 * The source of `canvasInk(role)`, to embed in a page script: how many
 * pixels of a chart's canvas are not transparent (uPlot's canvas starts
 * transparent, so anything drawn makes it non-empty).
 */
export const CANVAS_INK = `(role) => {
  const c = document.querySelector('.lr-chart[data-role="' + role + '"] canvas');
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}`;

/** The Learning Rate tab's iframe in TensorBoard's page. */
export async function pluginFrame(page, timeout = 30000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const frame = page.frames().find((f) => f.url().includes('plugin_entry.html?name=learning_rate'));
    if (frame) return frame;
    await page.waitForTimeout(100);
  }
  throw new Error('the Learning Rate iframe never appeared');
}

/**
 * Polls `read(frame)` until `predicate` holds; a read that throws (the
 * frame still loading) counts as {error}.
 */
export async function waitUntil(frame, read, predicate, what, { timeout = 20000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await read(frame);
    } catch (e) {
      last = { error: String(e) };
    }
    if (!last.error && predicate(last)) return last;
    await frame.page().waitForTimeout(every);
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last).slice(0, 2000)}`);
}

/**
 * Starts Chromium (`--chromium PATH`, $CHROMIUM or /usr/bin/chromium) with a
 * fresh profile, logs the page's console errors, uncaught errors and
 * dialogs into `report`, runs `body(page)`, and sets `report.ok` (or
 * `report.error`). Always closes the browser and removes the profile.
 */
export async function withBrowser(
  report,
  body,
  { executablePath, colorScheme, profilePrefix = 'tb-lr-chromium-' } = {},
) {
  const profile = mkdtempSync(path.join(tmpdir(), profilePrefix));
  Object.assign(report, { consoleErrors: [], pageErrors: [], dialogs: [], ...report });
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: executablePath || process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 1000 },
      ...(colorScheme ? { colorScheme } : {}),
    });
    const page = context.pages()[0] || (await context.newPage());
    logPage(page, report);
    await body(page);
    report.ok = true;
  } catch (e) {
    report.ok = false;
    report.error = String(e && e.stack ? e.stack : e);
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  return report;
}

function logPage(page, report) {
  page.on('console', (m) => {
    if (m.type() === 'error') report.consoleErrors.push(`${m.text()} @ ${m.location().url || ''}`);
  });
  page.on('pageerror', (e) => report.pageErrors.push(String(e && e.message ? e.message : e)));
  page.on('dialog', async (d) => {
    report.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
}

/**
 * Prints the report as one line of JSON, ASCII only: names hold U+2028 and
 * U+0085, which line-splitting readers split on.
 */
export function printReport(report) {
  const ascii = JSON.stringify(report).replace(
    /[\u007f-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
  process.stdout.write(ascii + '\n');
}
