// The LR range test in the tab: parsing the `finder` route, and what the
// finder chart draws (pure functions; the browser test checks the drawing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, parseFinder, parseRuns } from '../src/data.js';
import { buildFinderView, buildView, describeRangeTest, finderYRange } from '../src/shape.js';
import { formatLR } from '../src/format.js';

const ROUTE = {
  run: 'finder',
  tests: [
    {
      step: 0,
      lr: [1e-4, 1e-3, 1e-2, 1e-1, 1],
      loss: [2.0, 1.5, 0.5, 0.4, null],
      smoothed: [2.0, 1.8, 1.2, 0.9, 5.0],
      steepest: 0.001,
      valley: 0.0123456,
      min_lr: 1e-4,
      max_lr: 10,
      num_steps: 8,
      smoothing: 0.98,
      time: 1700000000.5,
    },
  ],
};

function runData(run, finder, optimizers = []) {
  return { run, lr: { optimizers }, loss: { series: [] }, finder };
}

test('parseFinder keeps each test as aligned columns and its two suggestions', () => {
  const { run, tests } = parseFinder(ROUTE);
  assert.equal(run, 'finder');
  assert.equal(tests.length, 1);
  const [t] = tests;
  assert.deepEqual(t.lr, [1e-4, 1e-3, 1e-2, 1e-1, 1]);
  assert.deepEqual(t.loss, [2.0, 1.5, 0.5, 0.4, null]);
  assert.deepEqual(t.smoothed, [2.0, 1.8, 1.2, 0.9, 5.0]);
  assert.equal(t.valley, 0.0123456);
  assert.equal(t.steepest, 0.001);
  assert.deepEqual([t.minLr, t.maxLr, t.numSteps, t.step], [1e-4, 10, 8, 0]);
});

test('parseFinder drops junk: no lr list, LRs that a log axis cannot show, bad suggestions', () => {
  const { tests } = parseFinder({
    tests: [
      null,
      'x',
      { lr: [0, -1, 1e-3, 'a', 1e-2], loss: [1, 2, 3, 4, 5], smoothed: [1, 2, 3, 4, 5], valley: -1, steepest: 'no' },
      { lr: 'nope' },
    ],
  });
  assert.equal(tests.length, 2);
  assert.deepEqual(tests[0].lr, [1e-3, 1e-2]);
  assert.deepEqual(tests[0].loss, [3, 5]);
  assert.equal(tests[0].valley, null);
  assert.equal(tests[0].steepest, null);
  assert.deepEqual(tests[1].lr, []);
  assert.deepEqual(parseFinder(null), { run: '', tests: [] });
});

test('parseRuns reads the number of range tests (0 when absent)', () => {
  const runs = parseRuns({ runs: [{ run: 'a', finder: 2 }, { run: 'b' }, { run: 'c', finder: 'x' }] });
  assert.deepEqual(
    runs.map((r) => r.finder),
    [2, 0, 0],
  );
});

test('runData fetches the finder route only when asked', async () => {
  const calls = [];
  const fetchImpl = async (url) => {
    calls.push(url);
    const route = url.split('?')[0].slice(2);
    const body =
      route === 'finder' ? ROUTE : route === 'events' ? { events: [] } : route === 'audit' ? { findings: [] } : {};
    return new Response(JSON.stringify(body), { status: 200 });
  };
  const client = createClient(fetchImpl);
  const without = await client.runData('finder', { audit: false });
  assert.deepEqual(without.finder, []);
  assert.ok(!calls.some((u) => u.startsWith('./finder')));
  const withIt = await client.runData('finder', { audit: false, finder: true });
  assert.ok(calls.includes('./finder?run=finder'));
  assert.equal(withIt.finder.length, 1);
  assert.equal(withIt.finder[0].valley, 0.0123456);
  assert.deepEqual(withIt.errors, []);
});

test('a failing finder route is reported and leaves no test', async () => {
  const client = createClient(async (url) =>
    url.startsWith('./finder')
      ? new Response(JSON.stringify({ error: 'Not found: nope' }), { status: 404 })
      : new Response(JSON.stringify({}), { status: 200 }),
  );
  const d = await client.runData('r', { audit: false, finder: true });
  assert.deepEqual(d.finder, []);
  assert.deepEqual(
    d.errors.map((e) => [e.route, e.status]),
    [['finder', 404]],
  );
});

test('describeRangeTest: the suggestions in compact notation, steps and LR span', () => {
  const [t] = parseFinder(ROUTE).tests;
  assert.deepEqual(describeRangeTest(t), {
    suggested: '1.23e-2',
    steepest: '1e-3',
    span: '5 of 8 steps (stopped early), LR 1e-4 → 1',
  });
  const full = { ...t, numSteps: 5 };
  assert.equal(describeRangeTest(full).span, '5 steps, LR 1e-4 → 1');
  const empty = { lr: [], loss: [], smoothed: [], valley: null, steepest: null, numSteps: 8 };
  assert.deepEqual(describeRangeTest(empty), { suggested: '–', steepest: '–', span: 'no step recorded' });
});

test('finderYRange leaves the blow-up at the end of a test off the top', () => {
  const [t] = parseFinder(ROUTE).tests;
  const [lo, hi] = finderYRange([t]);
  // Lowest raw loss 0.4, highest smoothed loss before the last point 2.0.
  assert.ok(lo < 0.4 && lo > 0.2, lo);
  assert.ok(hi > 2.0 && hi < 2.3, hi);
  assert.equal(finderYRange([]), null);
  const noSmooth = { lr: [1, 2], loss: [3, 1], smoothed: [null, null] };
  const [a, b] = finderYRange([noSmooth]);
  assert.ok(a < 1 && b > 3);
});

test('buildFinderView: raw loss faint, smoothed solid, a marker per suggestion', () => {
  const [t] = parseFinder(ROUTE).tests;
  const view = buildFinderView([runData('logged', [], [{ name: 'adam' }]), runData('finder', [t])]);
  assert.equal(view.empty, false);
  assert.deepEqual(view.data, [t.lr, t.loss, t.smoothed]);
  assert.deepEqual(
    view.series.map((s) => [s.label, s.kind, s.alpha]),
    [
      ['loss', 'raw', 0.35],
      ['smoothed', 'smoothed', 1],
    ],
  );
  assert.ok(view.series[1].width > view.series[0].width);
  assert.deepEqual(
    view.markers.map((m) => [m.kind, m.x, m.label]),
    [
      ['valley', 0.0123456, `valley ${formatLR(0.0123456)}`],
      ['steepest', 0.001, 'steepest 1e-3'],
    ],
  );
  assert.equal(view.tests.length, 1);
  assert.equal(view.tests[0].suggested, '1.23e-2');
  // The run keeps its colour in the tab (the second run, no optimizer of its own).
  assert.equal(view.series[0].color, view.tests[0].color);
});

test('buildFinderView names runs and tests when there are several, and is empty without any', () => {
  const [t] = parseFinder(ROUTE).tests;
  const view = buildFinderView([runData('a', [t, { ...t, valley: null }]), runData('b', [t])]);
  assert.deepEqual(
    view.tests.map((x) => x.name),
    ['a · test 1', 'a · test 2', 'b'],
  );
  assert.equal(view.series[0].label, 'a · test 1 · loss');
  assert.equal(view.markers.filter((m) => m.kind === 'valley').length, 2);
  assert.equal(view.data[0].length, t.lr.length); // shared LR column
  const none = buildFinderView([runData('a', [])]);
  assert.equal(none.empty, true);
  assert.deepEqual(none.tests, []);
});

test('a run with only a range test adds no note and nothing to the loss and LR charts', () => {
  const [t] = parseFinder(ROUTE).tests;
  const only = {
    run: 'finder',
    axis: 'epoch', // the routes' axis for a run without epochs
    lr: { run: 'finder', optimizers: [], epochs: { epoch: [], step: [] }, points: 0, shown: 0, downsampled: false },
    loss: { run: 'finder', monitor: null, series: [], epochs: { epoch: [], step: [] } },
    epochs: { epoch: [], step: [] },
    events: [],
    finder: [t],
  };
  for (const axis of ['step', 'epoch']) {
    const view = buildView([only], { axis });
    assert.deepEqual(view.notes, [], axis);
    assert.equal(view.empty, true);
  }
  assert.equal(buildFinderView([only]).empty, false);
});
