import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS } from '../tests/browser/lib.mjs';
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'frontend', 'package.json'));
const { chromium } = require('playwright-core');
const base = process.argv[2];
const hash = process.argv[3] || '#learning_rate';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
for (let i = 0; i < 3; i++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  await page.goto(`${base}/${hash}`, { waitUntil: 'commit' });
  const t = await page.waitForFunction(() => {
    const f = document.querySelector('iframe'); const d = f && f.contentDocument;
    if (!d) return null;
    const b = [...d.querySelectorAll('.lr-chart[data-role="loss"], .lr-chart[data-role="lr"]')];
    return b.length === 2 && b.every((x) => Number(x.dataset.draws) > 0) ? performance.now() : null;
  }, null, { polling: 10, timeout: 60000 });
  const { profile } = await cdp.send('Profiler.stop');
  if (i === 2) fs.writeFileSync('/tmp/tabperf/prof/p.cpuprofile', JSON.stringify(profile));
  const marks = await page.evaluate(() => { const f = document.querySelector('iframe'); const off = f.contentWindow.performance.timeOrigin - performance.timeOrigin; return f.contentWindow.performance.getEntriesByType('resource').map((e) => [e.name.split('/').pop().slice(0, 40), Math.round(e.startTime + off), Math.round(e.responseEnd + off)]); });
  console.log(i, await t.jsonValue(), JSON.stringify(marks));
  await context.close();
}
await browser.close();
