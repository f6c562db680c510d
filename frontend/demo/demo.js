// Serves the routes from demo/data/ to the built tab (no TensorBoard needed).
//   ?state=empty   no run has data (the empty state)
//   ?state=error   every route fails (the error state)
//   ?runs=500      500 runs (a sweep), to try the run selector at scale
//   ?theme=dark    force a theme (otherwise the system's)
// The tab itself (static/app.js), not TensorBoard's entry, which would send its first request to a TensorBoard.
import { render } from '../../tb_lr_plugin/static/app.js';

const params = new URLSearchParams(location.search);
const state = params.get('state');
const many = Number(params.get('runs')) || 0;
let saved = null;

async function savedRuns() {
  if (!saved) saved = (await (await fetch('./data/runs.json')).json()).runs;
  return saved;
}

// Run name -> index of the saved run whose responses it gets.
async function runList() {
  const runs = await savedRuns();
  if (!many) return runs.map((r, i) => [r, i]);
  const out = [];
  for (let i = 0; i < many; i++) {
    const k = i % runs.length;
    const lr = ['1e-2', '3e-3', '1e-3', '3e-4'][i % 4];
    out.push([{ ...runs[k], run: `sweep/lr=${lr}/seed=${String(i).padStart(3, '0')}` }, k]);
  }
  return out;
}

async function demoFetch(url) {
  const u = new URL(url, 'http://demo/');
  const route = u.pathname.replace(/^\//, '');
  if (state === 'error') return json({ error: `demo: the ${route} route failed` }, 500);
  const runs = await runList();
  if (route === 'runs') return json({ runs: state === 'empty' ? [] : runs.map(([r]) => r) });
  const hit = runs.find(([r]) => r.run === u.searchParams.get('run'));
  if (!hit) return json({ error: `Unknown run: ${JSON.stringify(u.searchParams.get('run'))}` }, 404);
  if (!['lr', 'loss', 'events', 'audit', 'finder'].includes(route)) return json({ error: `no ${route} route in the demo` }, 404);
  if (route === 'finder' && !hit[0].finder) return json({ run: hit[0].run, tests: [] });
  const body = await (await fetch(`./data/run${hit[1]}/${route}.json`)).json();
  if ('run' in body) body.run = hit[0].run;
  return json(body);
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

window.tbLrDemo = render({ fetch: demoFetch, pollMs: 0 });
