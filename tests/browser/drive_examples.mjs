// Opens the Learning Rate tab on the six tutorial examples, one run at a
// time, and prints one JSON report of what each showed (both charts drawn,
// event rows, what the events route says) for test_examples_tab.py.
//
//   node tests/browser/drive_examples.mjs --url http://127.0.0.1:PORT --out DIR
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CANVAS_INK, parseArgs, pluginFrame, printReport, withBrowser } from './lib.mjs';

const args = parseArgs();
const base = args.url.replace(/\/$/, '');
const outDir = path.resolve(args.out);
mkdirSync(outDir, { recursive: true });

// What the tab shows, read inside its frame.
const STATE = `(() => {
  const ink = ${CANVAS_INK};
  return {
    state: document.querySelector('.lr-app')?.dataset.state,
    details: document.querySelector('.lr-app')?.dataset.details,
    selected: [...document.querySelectorAll('.lr-run')].filter((r) => r.querySelector('input').checked).map((r) => r.dataset.run),
    loss: ink('loss'),
    lr: ink('lr'),
    eventRows: document.querySelectorAll('.lr-events tbody tr').length,
    eventTexts: [...document.querySelectorAll('.lr-events tbody tr')].slice(0, 4).map((tr) => tr.textContent),
    hyper: [...document.querySelectorAll('.lr-hyper-item')].filter((i) => i.querySelector('polyline')?.getAttribute('points')).length,
  };
})()`;

const report = { runs: {} };
await withBrowser(
  report,
  async (page) => {
    await page.goto(`${base}/#learning_rate`);
    const frame = await pluginFrame(page);
    await frame.waitForSelector('.lr-run', { timeout: 30000 });
    const runs = await frame.evaluate(() => [...document.querySelectorAll('.lr-run')].map((r) => r.dataset.run));
    report.selectedAtFirst = (await frame.evaluate(STATE)).selected;
    // What each run's row says of it: its source, and in the tooltip its limits.
    report.rows = await frame.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll('.lr-run')].map((r) => [
          r.dataset.run,
          { meta: r.querySelector('.lr-run-meta').textContent, title: r.title },
        ]),
      ),
    );
    for (const run of runs) {
      await frame.click('button:text("None")');
      await frame.check(`.lr-run[data-run="${run}"] input`);
      let seen;
      const deadline = Date.now() + 30000;
      do {
        await page.waitForTimeout(150);
        seen = await frame.evaluate(STATE);
      } while (
        !(
          seen.state === 'ready' &&
          seen.details === 'drawn' &&
          seen.selected.length === 1 &&
          seen.loss > 0 &&
          seen.lr > 0
        ) &&
        Date.now() < deadline
      );
      const events = await frame.evaluate(
        async (r) => (await (await fetch(`./events?${new URLSearchParams({ run: r })}`)).json()).events,
        run,
      );
      report.runs[run] = { ...seen, events: events.length, kinds: [...new Set(events.map((e) => e.kind))] };
      await page.screenshot({ path: path.join(outDir, `example-${run}.png`) });
    }
  },
  { executablePath: args.chromium },
);
printReport(report);
