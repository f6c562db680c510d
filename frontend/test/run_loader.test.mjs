import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../src/data.js';
import { VIEW_CHUNK } from '../src/first_view.js';
import { loadAudits, loadRunDatas, needsLoad, prefetchView } from '../src/run_loader.js';

// Per-run answers, as the plugin's own routes give them.
const lrOf = (run) => ({
  run,
  optimizers: [{ name: 'adam', step: [1, 2, 3], planned: [1e-3, 1e-3, 1e-3], actual: [1e-3, 1e-3, 5e-4] }],
  epochs: { epoch: [0], step: [3] },
  points: 3,
});
const lossOf = (run) => ({ run, series: [{ name: 'loss', resolution: 'step', step: [1, 2, 3], value: [3, 2, 1] }] });
const eventsOf = (run) => ({ events: [{ kind: 'reduction', step: 3, epoch: 0, old_lr: 1e-3, new_lr: 5e-4 }] });
const auditOf = (run) => ({ findings: [{ kind: 'k', severity: 'warning', message: `about ${run}` }] });
const BODY = { lr: lrOf, loss: lossOf, events: eventsOf, audit: auditOf };

/** A fetch over per-run routes and `view` (unless `noView`), recording each URL. */
function server({ noView = false, missing = new Set() } = {}) {
  const calls = [];
  const fn = async (url) => {
    calls.push(url);
    const u = new URL(url, 'http://tb/data/plugin/learning_rate/');
    const route = u.pathname.split('/').pop();
    const answer = (status, body) => new Response(JSON.stringify(body), { status });
    if (route === 'view' && !noView) {
      const runs = u.searchParams.getAll('run');
      const first = Number(u.searchParams.get('first') || 0);
      const all = ['a', 'b', 'c'];
      const names = first ? all.slice(0, first) : runs;
      if (names.some((r) => missing.has(r))) return answer(404, { error: 'no such run' });
      const parts = u.searchParams.getAll('part');
      const items = names.map((run) => Object.fromEntries([['run', run], ...parts.map((p) => [p, BODY[p](run)])]));
      const listing = u.searchParams.get('listing') ? all.map((run) => ({ run })) : undefined;
      return answer(200, { listing, runs: items });
    }
    const run = u.searchParams.get('run');
    if (!BODY[route] || missing.has(run)) return answer(404, { error: 'Not found' });
    return answer(200, BODY[route](run));
  };
  fn.calls = calls;
  return fn;
}

const routesOf = (calls) => calls.map((c) => c.split('?')[0].replace('./', ''));

test('many runs load in one view request, parsed as each run own routes are', async () => {
  const viaView = server();
  const batched = await loadRunDatas(createClient(viaView), ['b', 'a']);
  assert.deepEqual(routesOf(viaView.calls), ['view']);
  assert.match(viaView.calls[0], /run=b&run=a&part=lr&part=loss&part=events$/);
  const perRun = server({ noView: true });
  const client = createClient(perRun);
  for (const run of ['b', 'a']) {
    const own = await client.runData(run, { audit: false });
    const got = batched.get(run);
    assert.deepEqual(
      { ...got, points: undefined, asked: undefined },
      { ...own, findings: null, points: undefined, asked: undefined },
    );
    assert.equal(got.findings, null);
  }
});

test('the point budget is asked for and kept on each run', async () => {
  const fetch = server();
  const got = await loadRunDatas(createClient(fetch), ['a'], { points: 500 });
  assert.match(fetch.calls[0], /points=500/);
  assert.equal(got.get('a').points, 500);
  assert.equal(needsLoad(got.get('a'), 500), false);
  assert.equal(needsLoad(got.get('a'), null), true, 'the full charts need more than the grid asked for');
  assert.equal(needsLoad({ asked: null, points: null }, 500), true, 'the grid draws what its refresh fetches');
  assert.equal(needsLoad({ asked: null, points: null }, null), false);
  assert.equal(needsLoad({ asked: 500, points: null }, 500), false, 'a fallback answer is not asked again');
  assert.equal(needsLoad(undefined, null), true);
});

test('a failed view falls back to each run routes: one vanished run hides no other', async () => {
  const fetch = server({ missing: new Set(['b']) });
  const got = await loadRunDatas(createClient(fetch), ['a', 'b']);
  assert.equal(routesOf(fetch.calls)[0], 'view');
  assert.equal(got.get('a').lr.optimizers.length, 1);
  assert.deepEqual(got.get('a').errors, []);
  assert.equal(got.get('b').lr.optimizers.length, 0);
  assert.ok(got.get('b').errors.every((e) => e.status === 404));
});

test('a transport without view (a report) is asked per run', async () => {
  const asked = [];
  const transport = {
    async get(route, params) {
      asked.push(route);
      return BODY[route](params.run);
    },
    exportUrl: () => '#',
  };
  const got = await loadRunDatas(createClient(transport), ['a', 'b']);
  assert.ok(!asked.includes('view'));
  assert.equal(asked.length, 6);
  assert.equal(got.get('b').events.length, 1);
  const audits = await loadAudits(createClient(transport), ['a']);
  assert.equal(audits.get('a').findings[0].message, 'about a');
});

test('more runs than one view takes are asked in chunks', async () => {
  const fetch = server();
  const runs = Array.from({ length: VIEW_CHUNK + 5 }, (_, i) => `r${i}`);
  const got = await loadRunDatas(createClient(fetch), runs);
  assert.deepEqual(routesOf(fetch.calls), ['view', 'view']);
  assert.equal(got.size, runs.length);
});

test('the early request carries the listing and serves the first load', async () => {
  const fetch = server();
  const client = createClient(fetch);
  const early = prefetchView(client, 2, null);
  assert.deepEqual(
    (await early.listing).map((r) => r.run),
    ['a', 'b', 'c'],
  );
  const got = await loadRunDatas(client, ['a', 'b'], { early });
  assert.deepEqual(routesOf(fetch.calls), ['view'], 'no second request');
  assert.match(fetch.calls[0], /first=2&.*listing=1/);
  assert.equal(got.get('b').lr.optimizers[0].actual[2], 5e-4);
  // Another selection (or other points): its own request.
  await loadRunDatas(client, ['a', 'c'], { early });
  await loadRunDatas(client, ['a', 'b'], { early, points: 500 });
  assert.equal(fetch.calls.length, 3);
  assert.equal(prefetchView(createClient({ get: async () => ({}), exportUrl: () => '#' }), 2, null), null);
});

test('the findings come in one view request, each run audit route where it fails', async () => {
  const fetch = server();
  const audits = await loadAudits(createClient(fetch), ['a', 'b']);
  assert.deepEqual(routesOf(fetch.calls), ['view']);
  assert.match(fetch.calls[0], /part=audit/);
  assert.equal(audits.get('b').findings[0].severity, 'warning');
  const failing = server({ missing: new Set(['b']) });
  const some = await loadAudits(createClient(failing), ['a', 'b']);
  assert.deepEqual(routesOf(failing.calls).sort(), ['audit', 'audit', 'view']);
  assert.equal(some.get('a').findings.length, 1);
  assert.equal(some.get('b').error.status, 404);
});
