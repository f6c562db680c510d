import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseEvents, parseLoss, parseLr, parseAudit } from '../src/data.js';
import {
  PALETTE,
  assignColours,
  buildView,
  convertRange,
  eventX,
  joinTables,
  zoomAround,
  describeEvent,
  LOG_FLOOR,
} from '../src/shape.js';
import { makeEpochMap } from '../src/axis.js';

const demo = (p) => JSON.parse(readFileSync(new URL(`../demo/data/${p}`, import.meta.url), 'utf8'));

function demoRun(i) {
  const lr = parseLr(demo(`run${i}/lr.json`));
  const loss = parseLoss(demo(`run${i}/loss.json`));
  return {
    run: lr.run,
    lr,
    loss,
    epochs: lr.epochs,
    events: parseEvents(demo(`run${i}/events.json`)),
    findings: parseAudit(demo(`run${i}/audit.json`)),
    errors: [],
  };
}

function runData({
  run = 'r',
  steps,
  actual,
  planned = actual,
  epochs = null,
  events = [],
  loss = [],
  downsampled = false,
  points,
}) {
  return {
    run,
    lr: {
      run,
      optimizers: [{ name: 'adam', step: steps, actual, planned }],
      epochs: epochs || { epoch: [], step: [] },
      points: points ?? steps.length,
      shown: steps.length,
      downsampled,
    },
    loss: { run, monitor: 'val_loss', series: loss, epochs: epochs || { epoch: [], step: [] } },
    epochs: epochs || { epoch: [], step: [] },
    events,
    findings: [],
    errors: [],
  };
}

test('joinTables aligns on the union of x, undefined where a table has no point', () => {
  const out = joinTables([
    [
      [1, 3, 5],
      [10, 30, 50],
    ],
    [
      [2, 3, 6],
      [20, null, 60],
      [2, 3, 6],
    ],
  ]);
  assert.deepEqual(out[0], [1, 2, 3, 5, 6]);
  assert.deepEqual(out[1], [10, undefined, 30, 50, undefined]);
  assert.deepEqual(out[2], [undefined, 20, null, undefined, 60]);
  assert.deepEqual(out[3], [undefined, 2, 3, undefined, 6]);
});

test('joinTables shares identical x columns without copying', () => {
  const xs = [1, 2, 3];
  const out = joinTables([
    [xs, [1, 2, 3]],
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
  ]);
  assert.equal(out[0], xs);
  assert.equal(out.length, 3);
  assert.deepEqual(joinTables([]), [[]]);
});

test('one run: loss and LR series with planned dashed and actual solid', () => {
  const view = buildView([demoRun(0)]);
  assert.deepEqual(
    view.lr.series.map((s) => [s.label, s.dash]),
    [
      ['actual', null],
      ['planned', [6, 4]],
    ],
  );
  assert.equal(view.lr.series[0].color, PALETTE[0]);
  const names = view.loss.series.map((s) => s.name);
  assert.deepEqual(names, ['batch_loss', 'loss', 'val_loss']);
  const batch = view.loss.series[0];
  assert.ok(batch.alpha < 1 && batch.width < view.loss.series[1].width);
  assert.equal(view.loss.series[2].label, 'val_loss (monitor)');
  assert.equal(view.lr.data.length, 3);
  assert.equal(view.loss.data.length, 4);
  for (const col of view.loss.data) assert.equal(col.length, view.loss.data[0].length);
});

test('one marker per reduction, LR change and scheduler event; bands from cooldown pairs', () => {
  const d = demoRun(0);
  const view = buildView([d]);
  const reductions = d.events.filter((e) => e.kind === 'reduction');
  const markers = view.markers.filter((m) => m.kind === 'reduction');
  assert.equal(markers.length, reductions.length);
  assert.deepEqual(
    markers.map((m) => m.x),
    reductions.map((e) => e.step),
  );
  assert.match(markers[0].label, /^\d(\.\d+)?e-\d+ → \d(\.\d+)?e-\d+$/);
  const starts = d.events.filter((e) => e.kind === 'cooldown' && e.phase === 'start');
  assert.equal(view.bands.length, starts.length);
  for (const b of view.bands) assert.ok(b.to > b.from);
});

test('an open cooldown band runs to the end of the data', () => {
  const d = runData({
    steps: [1, 2, 3, 4],
    actual: [1, 1, 0.1, 0.1],
    events: [
      { kind: 'reduction', epoch: 1, step: 2, old_lr: 1, new_lr: 0.1, min_lr: 0 },
      { kind: 'cooldown', epoch: 1, step: 2, phase: 'start', cooldown: 5 },
    ],
  });
  const view = buildView([d]);
  assert.deepEqual(
    view.bands.map((b) => [b.from, b.to, b.open]),
    [[2, 4, true]],
  );
});

test('the min_lr floor appears when hit, from the first hit', () => {
  const view = buildView([demoRun(0)]);
  assert.equal(view.floors.length, 1);
  assert.equal(view.floors[0].label, 'min_lr 2e-5');
  const floorMarkers = view.markers.filter((m) => m.kind === 'min_lr_floor');
  assert.equal(floorMarkers.length, 1, 'only the first floor hit is marked');
  assert.ok(view.floors[0].fromX <= floorMarkers[0].x, 'the floor starts where a reduction reached min_lr');
  const noFloor = buildView([demoRun(1)]);
  assert.equal(noFloor.floors.length, 0);
});

test('a reduction that lands on min_lr shows the floor', () => {
  const d = runData({
    steps: [1, 2],
    actual: [1e-3, 1e-4],
    events: [{ kind: 'reduction', epoch: 0, step: 1, old_lr: 1e-3, new_lr: 1e-4, min_lr: 1e-4 }],
  });
  assert.equal(buildView([d]).floors.length, 1);
});

test('the epoch axis counts epochs completed: Keras\'s "Epoch k" ends at x = k', () => {
  const d = demoRun(0);
  const view = buildView([d], { axis: 'epoch' });
  const xs = view.lr.data[0];
  assert.ok(xs[0] > 0 && xs[0] < 1, 'step 1 lies inside the first epoch');
  const last = d.epochs.epoch[d.epochs.epoch.length - 1];
  assert.ok(Math.abs(xs[xs.length - 1] - (last + 1)) < 1e-9);
  const reduction = view.markers.find((m) => m.kind === 'reduction');
  assert.equal(reduction.x, reduction.event.epoch + 1);
  assert.equal(view.unitsPerEpoch, 1);
  assert.ok(view.loss.data[0].includes(1) && view.loss.data[0].includes(last + 1));
  assert.ok(!view.loss.data[0].includes(0), 'no epoch ends at x = 0');
});

test('a run without epochs hides its per-step series on the epoch axis, with a note', () => {
  const d = runData({ steps: [1, 2], actual: [1, 1] });
  const view = buildView([d], { axis: 'epoch' });
  assert.equal(view.lr.series.length, 0);
  assert.equal(view.notes.length, 1);
  assert.ok(view.empty);
});

test('several runs: a colour per (run, optimizer), run names in the labels', () => {
  const view = buildView([demoRun(0), demoRun(1), demoRun(2)]);
  const colours = new Set(view.lr.series.map((s) => s.color));
  assert.equal(colours.size, 3);
  assert.ok(view.lr.series[0].label.startsWith('resnet/plateau · '));
  assert.equal(view.markers.filter((m) => m.kind === 'reduction').length, 4 + 2);
  const xs = view.lr.data[0];
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] > xs[i - 1]);
});

test('two optimizers in one run get two colours', () => {
  const d = runData({ steps: [1, 2], actual: [1, 1] });
  d.lr.optimizers.push({ name: 'disc', step: [1, 2], actual: [2, 2], planned: [null, null] });
  const colours = assignColours([d]);
  assert.notEqual(colours.get('r').optimizer.get('adam'), colours.get('r').optimizer.get('disc'));
  const view = buildView([d]);
  assert.deepEqual(
    view.lr.series.map((s) => s.label),
    ['adam actual', 'adam planned', 'disc actual'],
  );
});

test('log axes skip values that cannot be drawn, keep NaN gaps', () => {
  const d = runData({
    steps: [1, 2, 3],
    actual: [0, null, 1e-3],
    loss: [
      { name: 'loss', source: 'logger', resolution: 'step', step: [1, 2, 3], value: [-1, null, 0.5], epoch: null },
    ],
  });
  const view = buildView([d], { lossLog: true });
  assert.deepEqual(view.lr.data[1], [undefined, null, 1e-3]);
  assert.deepEqual(view.loss.data[1], [undefined, null, 0.5]);
  const linear = buildView([d], { lossLog: false });
  assert.deepEqual(linear.loss.data[1], [-1, null, 0.5]);
});

test('a downsampled series is drawn as sent, with a note saying so', () => {
  // What the server sends for 1,000,000 steps: ~2,000 points keeping the change points.
  const steps = [];
  const actual = [];
  for (let s = 1; s <= 1000000; s += 500) {
    steps.push(s);
    actual.push(s < 400000 ? 1e-3 : 1e-4);
  }
  steps.push(400000); // a kept change point, out of order on purpose
  actual.push(1e-4);
  const d = runData({ steps: [...steps], actual: [...actual], downsampled: true, points: 1000000 });
  const parsed = parseLr({
    run: 'r',
    optimizers: [{ name: 'adam', step: steps, planned: actual, actual }],
    points: 1000000,
    downsampled: true,
  });
  d.lr = parsed;
  const view = buildView([d]);
  const xs = view.lr.data[0];
  assert.equal(xs.length, steps.length);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] > xs[i - 1]);
  assert.equal(view.lr.data[1][xs.indexOf(400000)], 1e-4);
  assert.match(view.notes[0], /showing 2,001 of 1,000,000 points/);
});

test('eventX places events on either axis', () => {
  const map = makeEpochMap({ epoch: [0, 1, 2], step: [10, 20, 30] });
  assert.equal(eventX({ epoch: 1, step: 20 }, 'step', map), 20);
  assert.equal(eventX({ epoch: 1, step: 20 }, 'epoch', map), 2);
  assert.equal(eventX({ epoch: 1, step: null }, 'step', map), 20);
  assert.equal(eventX({ epoch: null, step: 15 }, 'epoch', map), 1.5);
  assert.equal(eventX({ epoch: null, step: 15 }, 'epoch', null), null);
});

test('zoomAround narrows the view around a point', () => {
  assert.deepEqual(zoomAround(500, [0, 1000], 50), [350, 650]);
  assert.deepEqual(zoomAround(4, [0, 5], 1), [2.75, 5.25]);
  const r = zoomAround(10, [0, 100], null);
  assert.ok(r[1] - r[0] < 100 && r[0] < 10 && r[1] > 10);
  const p = zoomAround(7, null, null);
  assert.ok(p[0] < 7 && p[1] > 7);
});

test('convertRange moves a zoom between the step and epoch axes', () => {
  const epochs = { epoch: [0, 1, 2, 3], step: [100, 200, 300, 400] };
  assert.deepEqual(convertRange([150, 250], 'step', 'epoch', epochs), [1.5, 2.5]);
  assert.deepEqual(convertRange([1.5, 2.5], 'epoch', 'step', epochs), [150, 250]);
  assert.equal(convertRange([1, 2], 'step', 'epoch', { epoch: [], step: [] }), null);
  assert.equal(convertRange(null, 'step', 'epoch', epochs), null);
});

test('describeEvent explains a torch reduction in torch terms', () => {
  const e = { kind: 'reduction', epoch: 5, step: 60, monitor: 'val_loss', value: 1, best: 0.9, wait: 3, patience: 2 };
  const text = describeEvent({ ...e, framework: 'torch', old_lr: 0.1, new_lr: 0.05 }, 'r', false);
  assert.match(text, /val_loss 1, best 0\.9, num_bad_epochs 3 > patience 2\n/);
  assert.doesNotMatch(text, /wait/);
  const floor = describeEvent({ ...e, kind: 'min_lr_floor', framework: 'torch', lr: 0.1, min_lr: 0.1 }, 'r', false);
  assert.match(floor, /num_bad_epochs 3 > patience 2\n/);
});

test('describeEvent explains a reduction in one tooltip', () => {
  const text = describeEvent(
    {
      kind: 'reduction',
      epoch: 4,
      step: 250,
      monitor: 'val_loss',
      value: 0.52,
      best: 0.5,
      wait: 3,
      patience: 3,
      old_lr: 1e-3,
      new_lr: 1e-4,
      factor: 0.1,
      cooldown: 2,
    },
    'r',
    false,
  );
  // Epoch 4 of the data is Keras's "Epoch 5: ReduceLROnPlateau reducing ...".
  assert.equal(
    text,
    'epoch 5, step 250 — plateau reduction\nval_loss 0.52, best 0.5, wait 3/3\nLR 1e-3 → 1e-4 (factor 0.1), then 2 epochs of cooldown',
  );
});

test('a run recorded per epoch only is left off the step axis and drawn on the epoch axis', () => {
  const d = runData({ steps: [0, 1, 2], actual: [1e-3, 1e-3, 1e-4], epochs: { epoch: [0, 1, 2], step: [0, 1, 2] } });
  d.axis = 'epoch';
  const onStep = buildView([d], { axis: 'step' });
  assert.equal(onStep.lr.series.length, 0);
  assert.match(onStep.notes[0], /per epoch only/);
  const onEpoch = buildView([d], { axis: 'epoch' });
  assert.deepEqual(onEpoch.lr.data[0], [1, 2, 3]);
});

test('LR series are drawn as steps unless the server thinned them', () => {
  const full = runData({ steps: [1, 2, 3], actual: [1, 1, 0.5] });
  assert.ok(buildView([full]).lr.series.every((s) => s.stepped));
  const thinned = runData({ steps: [1, 500, 1000], actual: [1, 1, 0.5], downsampled: true, points: 1000 });
  assert.ok(buildView([thinned]).lr.series.every((s) => !s.stepped));
});

test('LRs below the log floor are left out of the LR chart, not drawn at 1e-40', () => {
  // 121 halvings from 1e-3 reach 3.8e-40, where uPlot's log splits throw.
  const actual = [1e-3, 1e-20, 1e-21, 3.8e-40, 0];
  const view = buildView([runData({ steps: [1, 2, 3, 4, 5], actual })]);
  assert.deepEqual(view.lr.data[1], [1e-3, 1e-20, undefined, undefined, undefined]);
  assert.equal(LOG_FLOOR, 1e-20);
});
