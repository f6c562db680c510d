import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  RouteError,
  alignColumns,
  createClient,
  parseAudit,
  parseEvents,
  parseLoss,
  parseLr,
  parseRuns,
} from '../src/data.js';

const demo = (p) => JSON.parse(readFileSync(new URL(`../demo/data/${p}`, import.meta.url), 'utf8'));

function fakeFetch(routes) {
  const calls = [];
  const fn = async (url) => {
    calls.push(url);
    const u = new URL(url, 'http://tb/data/plugin/learning_rate/');
    const key = u.pathname.split('/').pop();
    const handler = routes[key];
    if (!handler) return new Response(JSON.stringify({ error: 'Not found' }), { status: 404 });
    const [status, body] = handler(u.searchParams);
    if (body instanceof Error) throw body;
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
  };
  fn.calls = calls;
  return fn;
}

test('parseRuns keeps server order, drops junk and duplicates', () => {
  const runs = parseRuns({
    runs: [
      { run: 'b', optimizers: ['adam', 3], source: 'logger', steps: 10, epochs: 2, events: 1 },
      { run: 'a' },
      { run: 'b' },
      { nope: 1 },
      null,
      'c',
    ],
  });
  assert.deepEqual(
    runs.map((r) => r.run),
    ['b', 'a', 'c'],
  );
  assert.deepEqual(runs[0].optimizers, ['adam']);
  assert.equal(runs[1].steps, null);
  assert.deepEqual(parseRuns({}), []);
  assert.deepEqual(parseRuns(null), []);
});

test('parseLr turns JSON nulls (NaN) into gaps and keeps the downsampling facts', () => {
  const lr = parseLr({
    run: 'r',
    optimizers: [{ name: 'adam', step: [1, 2, 3], planned: [1e-3, 1e-3, 1e-3], actual: [1e-3, null, 'x'] }],
    epochs: { epoch: [0], step: [3] },
    points: 1000000,
    downsampled: true,
  });
  assert.deepEqual(lr.optimizers[0].actual, [1e-3, null, null]);
  assert.equal(lr.points, 1000000);
  assert.equal(lr.shown, 3);
  assert.equal(lr.downsampled, true);
  assert.deepEqual(lr.epochs, { step: [3], epoch: [0] });
});

test('parseLr without downsampling info counts what it got', () => {
  const lr = parseLr({ run: 'r', optimizers: [{ name: 'a', step: [1, 2], planned: [1, 1], actual: [1, 1] }] });
  assert.equal(lr.points, 2);
  assert.equal(lr.downsampled, false);
  assert.deepEqual(lr.epochs, { epoch: [], step: [] });
});

test('alignColumns sorts, dedupes (last wins) and pads columns', () => {
  const cols = alignColumns([3, 1, 2, 2, NaN, 4], [[30, 10, 20, 21, 99, 40], [1]]);
  assert.deepEqual(cols.x, [1, 2, 3, 4]);
  assert.deepEqual(cols.ys[0], [10, 21, 30, 40]);
  assert.deepEqual(cols.ys[1], [null, null, 1, null]);
  const fast = alignColumns([1, 2], [[5]]);
  assert.deepEqual(fast.ys[0], [5, null]);
  assert.deepEqual(alignColumns(undefined, [undefined]), { x: [], ys: [[]] });
});

test('parseLoss keeps one series per name and resolution, the logger first', () => {
  const loss = parseLoss({
    run: 'r',
    monitor: 'val_loss',
    series: [
      { name: 'loss', source: 'keras', resolution: 'epoch', step: [10], epoch: [0], value: [2] },
      { name: 'loss', source: 'logger', resolution: 'epoch', step: [10], epoch: [0], value: [1] },
      { name: 'batch_loss', source: 'logger', resolution: 'step', step: [1, 2], value: [3, null] },
      { name: 'val_loss', source: 'keras', resolution: 'epoch', step: [10], epoch: [0], value: [4] },
      { bad: true },
    ],
  });
  assert.deepEqual(
    loss.series.map((s) => `${s.name}/${s.source}`),
    ['loss/logger', 'batch_loss/logger', 'val_loss/keras'],
  );
  assert.equal(loss.monitor, 'val_loss');
  assert.deepEqual(loss.series[0].epoch, [0]);
  assert.equal(loss.series[1].epoch, null);
  assert.deepEqual(loss.series[1].value, [3, null]);
});

test('parseEvents keeps known kinds, sorted by step', () => {
  const events = parseEvents({
    events: [
      { kind: 'reduction', epoch: 4, step: 250, old_lr: 1e-3, new_lr: 1e-4 },
      { kind: 'cooldown', epoch: 1, step: 100, phase: 'start' },
      { kind: 'mystery', epoch: 1, step: 1 },
      { kind: 'lr_change', epoch: null, step: null },
      { kind: 'scheduler', epoch: 0, step: 'x' },
    ],
  });
  assert.deepEqual(
    events.map((e) => e.kind),
    ['scheduler', 'cooldown', 'reduction'],
  );
  assert.equal(events[0].step, null);
});

test('parseAudit puts warnings first and normalises fields', () => {
  const f = parseAudit({
    findings: [
      { kind: 'a', severity: 'info', message: 'one' },
      { kind: 'b', severity: 'warning', epoch: 3, step: 30, message: 'two' },
      { severity: 'weird', message: 5 },
    ],
  });
  assert.deepEqual(
    f.map((x) => x.message),
    ['two', 'one', '5'],
  );
  assert.equal(f[2].severity, 'info');
  assert.equal(f[2].kind, 'finding');
});

test('the demo responses parse', () => {
  const runs = parseRuns(demo('runs.json'));
  assert.equal(runs.length, 3);
  assert.ok(runs.some((r) => r.run === '<img src=x onerror=alert(1)>'));
  const lr = parseLr(demo('run0/lr.json'));
  assert.equal(lr.optimizers[0].step.length, lr.optimizers[0].actual.length);
  assert.ok(parseEvents(demo('run0/events.json')).some((e) => e.kind === 'reduction'));
});

test('the client builds relative URLs with the run escaped', async () => {
  const fetch = fakeFetch({ lr: () => [200, { run: 'x', optimizers: [] }] });
  const client = createClient(fetch);
  await client.lr('a b&c=<img>/x');
  assert.equal(fetch.calls[0], './lr?run=a+b%26c%3D%3Cimg%3E%2Fx');
  assert.equal(client.exportUrl('r/1', 'csv'), './export?run=r%2F1&format=csv');
});

test('a JSON error answer becomes a RouteError with the message and status', async () => {
  const client = createClient(fakeFetch({ runs: () => [400, { error: 'Bad run' }] }));
  await assert.rejects(
    client.runs(),
    (e) =>
      e instanceof RouteError &&
      e.status === 400 &&
      e.message === 'Bad run' &&
      e.describe() === 'runs (HTTP 400): Bad run',
  );
});

test('a non-JSON error and a network failure are RouteErrors too', async () => {
  const client = createClient(
    fakeFetch({
      runs: () => [500, '<html>Internal Server Error</html>'],
      lr: () => [0, new TypeError('Failed to fetch')],
      loss: () => [200, 'not json'],
    }),
  );
  await assert.rejects(client.runs(), (e) => e.status === 500 && e.message.includes('Internal Server Error'));
  await assert.rejects(client.lr('r'), (e) => e.status === 0 && /network error/.test(e.message));
  await assert.rejects(client.loss('r'), (e) => /not JSON/.test(e.message));
});

test('runData draws what it can when one route fails', async () => {
  const client = createClient(
    fakeFetch({
      lr: () => [
        200,
        {
          run: 'r',
          optimizers: [{ name: 'a', step: [1], planned: [1], actual: [1] }],
          epochs: { epoch: [0], step: [1] },
        },
      ],
      loss: () => [200, { run: 'r', series: [], epochs: { epoch: [0], step: [1] } }],
      events: () => [200, { events: [] }],
      audit: () => [500, { error: 'audit exploded' }],
    }),
  );
  const d = await client.runData('r');
  assert.equal(d.lr.optimizers.length, 1);
  assert.deepEqual(d.findings, []);
  assert.equal(d.errors.length, 1);
  assert.equal(d.errors[0].route, 'audit');
  assert.deepEqual(d.epochs, { step: [1], epoch: [0] });
});

test('runData takes the epochs table from loss when lr has none', async () => {
  const client = createClient(
    fakeFetch({
      lr: () => [404, { error: 'Unknown run' }],
      loss: () => [200, { run: 'r', series: [], epochs: { epoch: [0, 1], step: [5, 10] } }],
      events: () => [200, { events: [] }],
      audit: () => [200, { findings: [] }],
    }),
  );
  const d = await client.runData('r');
  assert.deepEqual(d.epochs.epoch, [0, 1]);
  assert.equal(d.errors[0].status, 404);
});

test('the axis field says when a run has epochs only', async () => {
  assert.equal(parseLr({ axis: 'epoch', optimizers: [] }).axis, 'epoch');
  assert.equal(parseLr({ optimizers: [] }).axis, 'step');
  assert.equal(parseLoss({ axis: 'epoch', series: [] }).axis, 'epoch');
  const client = createClient(
    fakeFetch({
      lr: () => [
        200,
        { run: 'k', axis: 'epoch', optimizers: [{ name: 'a', step: [0, 1], planned: [null, null], actual: [1, 1] }] },
      ],
      loss: () => [200, { run: 'k', axis: 'epoch', series: [] }],
      events: () => [200, { events: [] }],
      audit: () => [200, { findings: [] }],
    }),
  );
  assert.equal((await client.runData('k')).axis, 'epoch');
});

test('a transport other than fetch serves the client: answers inlined as JSON', async () => {
  // What a page without a server does: the routes' answers, keyed by route and run.
  const runsJson = demo('runs.json');
  const name = runsJson.runs[0].run; // demo/data/run0/
  const inlined = { runs: runsJson, [name]: {} };
  for (const route of ['lr', 'loss', 'events', 'audit']) inlined[name][route] = demo(`run0/${route}.json`);
  const asked = [];
  const transport = {
    async get(route, params) {
      asked.push(params ? `${route}:${params.run}` : route);
      const answer = params ? inlined[params.run]?.[route] : inlined[route];
      if (!answer) throw new RouteError(route, 404, 'not in this report');
      return answer;
    },
    exportUrl: (run, format) => `data:${run}.${format}`,
  };
  const client = createClient(transport);
  const runs = await client.runs();
  assert.equal(runs[0].run, name);
  const d = await client.runData(name, { finder: true });
  assert.ok(d.lr.optimizers.length > 0);
  assert.ok(d.loss.series.length > 0);
  // The finder answer is missing: one RouteError, the rest still there.
  assert.deepEqual(
    d.errors.map((e) => [e.route, e.status]),
    [['finder', 404]],
  );
  assert.deepEqual(d.finder, []);
  assert.equal(client.exportUrl(name, 'csv'), `data:${name}.csv`);
  const routes = ['lr', 'loss', 'events', 'audit', 'finder'].map((r) => `${r}:${name}`);
  assert.deepEqual(asked.sort(), ['runs', ...routes].sort());
});

test('singleFlight runs one at a time and once more for the calls made meanwhile', async () => {
  const { singleFlight } = await import('../src/data.js');
  let runs = 0;
  let release;
  const refresh = singleFlight(() => {
    runs += 1;
    return new Promise((resolve) => (release = resolve));
  });
  const first = refresh();
  assert.equal(refresh(), first);
  assert.equal(refresh(), first);
  assert.equal(runs, 1);
  release();
  await first;
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(runs, 2);
  release();
});
