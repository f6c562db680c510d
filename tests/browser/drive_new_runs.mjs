// Opens the Learning Rate tab on a logdir of one run, then copies that
// run's folder twice into the logdir and refreshes until TensorBoard lists
// the copies: runs that appear after the tab opened must join the
// selection and be drawn, as TensorBoard's dashboards show new runs (a
// TensorBoard that has just started lists its runs as it loads them).
//
//   node tests/browser/drive_new_runs.mjs --url URL --logdir DIR --run NAME
import { cpSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, pluginFrame, printReport, waitUntil, withBrowser } from './lib.mjs';

const args = parseArgs();
const base = args.url.replace(/\/$/, '');
const report = {};
const read = (frame) =>
  frame.evaluate(() => {
    const rows = [...document.querySelectorAll('.lr-run')];
    return {
      listed: rows.map((r) => r.dataset.run),
      checked: rows.filter((r) => r.querySelector('input').checked).map((r) => r.dataset.run),
      legend: [...document.querySelectorAll('.lr-legend-run')].map((n) => n.textContent),
      state: document.querySelector('.lr-app')?.dataset.state,
    };
  });

await withBrowser(
  report,
  async (page) => {
    await page.goto(`${base}/#learning_rate`);
    const frame = await pluginFrame(page);
    report.first = await waitUntil(frame, read, (s) => s.state === 'ready' && s.listed.length === 1, 'one run drawn');
    for (const copy of ['later_b', 'later_c']) {
      cpSync(path.join(args.logdir, args.run), path.join(args.logdir, copy), { recursive: true });
    }
    let seen;
    const deadline = Date.now() + 60000;
    do {
      await frame.locator('[data-control="refresh"]').click();
      await page.waitForTimeout(1000);
      seen = await read(frame);
    } while (seen.listed.length < 3 && Date.now() < deadline);
    report.after = await waitUntil(
      frame,
      read,
      (s) => s.state === 'ready' && s.checked.length === 3 && s.legend.length === 3,
      'the new runs selected and drawn',
      { timeout: 30000 },
    );
  },
  { executablePath: args.chromium },
);
printReport(report);
