import test from 'node:test';
import assert from 'node:assert/strict';
import { groupMarkers, labelsWanted, placeLabels } from '../src/label_layout.js';
import { bestMonitored, describeSchedule, filterRows, runRow, sortRows } from '../src/compare.js';

// A seeded generator, so a failure can be replayed.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function overlaps(a, b) {
  return a.row === b.row && a.start < b.start + b.width && b.start < a.start + a.width;
}

test('placed labels never overlap, on random marker sets of 1 to 200 markers', () => {
  const rand = rng(19);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(rand() * 200);
    const right = 300 + rand() * 1200;
    // Clusters too: many markers at nearly the same x, as runs reducing together.
    const items = Array.from({ length: n }, () => ({
      anchor: rand() < 0.3 ? Math.round(right / 2 + rand() * 10) : rand() * right,
      width: 30 + rand() * 90,
    }));
    const spots = placeLabels(items, { right });
    assert.equal(spots.length, n);
    const shown = spots.filter((s) => s.mode !== 'none');
    for (let i = 0; i < shown.length; i++) {
      const s = shown[i];
      assert.ok(s.mode === 'full' ? s.row >= 0 && s.row < 3 : s.row === 3, `row ${s.row}`);
      for (let j = i + 1; j < shown.length; j++)
        assert.ok(!overlaps(s, shown[j]), `trial ${trial}: ${i} and ${j} overlap`);
    }
    // A full label keeps its width; one that would leave the plot ends left of its marker.
    for (const [i, s] of spots.entries()) if (s.mode === 'full') assert.equal(s.width, items[i].width);
  }
});

test('labels go whole while they fit, then as dots, then not at all', () => {
  const one = placeLabels([{ anchor: 100, width: 80 }]);
  assert.deepEqual(one, [{ row: 0, mode: 'full', start: 103, width: 80 }]);
  // Five labels at one x: three rows whole, the fourth a dot, no room for a fifth dot.
  const same = placeLabels(Array.from({ length: 5 }, () => ({ anchor: 100, width: 80 })));
  assert.deepEqual(
    same.map((s) => s.mode),
    ['full', 'full', 'full', 'dot', 'none'],
  );
  assert.deepEqual(
    same.slice(0, 3).map((s) => s.row),
    [0, 1, 2],
  );
  // A dot where the text does not fit but a dot does.
  const dots = placeLabels(
    [
      { anchor: 0, width: 96 },
      { anchor: 0, width: 96 },
      { anchor: 0, width: 96 },
      { anchor: 110, width: 96 },
      { anchor: 104, width: 200 },
    ],
    { right: 1000 },
  );
  assert.equal(dots[3].mode, 'full');
  assert.equal(dots[4].mode, 'full');
  const crowded = placeLabels(
    [
      { anchor: 0, width: 100 },
      { anchor: 1, width: 100 },
      { anchor: 2, width: 100 },
      { anchor: 120, width: 100 },
      { anchor: 122, width: 100 },
      { anchor: 124, width: 100 },
      { anchor: 150, width: 100 },
    ],
    { right: 1000 },
  );
  assert.equal(crowded[6].mode, 'dot');
  // At the right edge a label ends left of its marker.
  assert.equal(placeLabels([{ anchor: 290, width: 80 }], { right: 300 })[0].start, 290 - 3 - 80);
});

test('markers of one kind at one step share a group; labels only with a few runs', () => {
  const ms = [
    { x: 5, run: 'a', kind: 'reduction' },
    { x: 2, run: 'b', kind: 'reduction' },
    { x: 5, run: 'b', kind: 'reduction' },
    { x: 5, run: 'b', kind: 'min_lr_floor' },
  ];
  const g = groupMarkers(ms);
  assert.deepEqual(
    g.map((x) => [x.x, x.markers.map((m) => m.run)]),
    [
      [2, ['b']],
      [5, ['a', 'b']],
      [5, ['b']],
    ],
  );
  assert.equal(labelsWanted(ms), true);
  assert.equal(labelsWanted(Array.from({ length: 5 }, (_, i) => ({ x: i, run: `r${i}` }))), false);
});

const row = (run, best, extra = {}) => ({ run, best, warnings: 0, infos: 0, steps: 10, ...extra });

test('sorting by best value orders the rows, unknown values last both ways', () => {
  const rows = [row('a', 0.3), row('b', null), row('c', 0.1), row('d', 0.2)];
  assert.deepEqual(
    sortRows(rows, 'best', 1).map((r) => r.run),
    ['c', 'd', 'a', 'b'],
  );
  assert.deepEqual(
    sortRows(rows, 'best', -1).map((r) => r.run),
    ['a', 'd', 'c', 'b'],
  );
  // Names sort naturally (run_2 before run_10); ties keep their order.
  const named = [row('run_10', 1), row('run_2', 1), row('run_1', 1)];
  assert.deepEqual(
    sortRows(named, 'run').map((r) => r.run),
    ['run_1', 'run_2', 'run_10'],
  );
  assert.deepEqual(
    sortRows(named, 'best').map((r) => r.run),
    ['run_10', 'run_2', 'run_1'],
  );
  // Findings: warnings first, then infos.
  const f = [
    row('x', 0, { warnings: 0, infos: 5 }),
    row('y', 0, { warnings: 1, infos: 0 }),
    row('z', 0, { warnings: null }),
  ];
  assert.deepEqual(
    sortRows(f, 'findings', -1).map((r) => r.run),
    ['y', 'x', 'z'],
  );
});

test('the filter is the run selector’s: a case-insensitive regex, else plain text', () => {
  const rows = ['cosine_a', 'Cosine_b', 'step_(1)'].map((r) => row(r, 1));
  assert.deepEqual(
    filterRows(rows, '^cos').map((r) => r.run),
    ['cosine_a', 'Cosine_b'],
  );
  assert.deepEqual(
    filterRows(rows, '_(1').map((r) => r.run),
    ['step_(1)'],
  );
  assert.equal(filterRows(rows, '').length, 3);
  assert.equal(filterRows(rows, 'nothing').length, 0);
});

const lossOf = (monitor, series) => ({
  monitor,
  series: series.map(([name, value]) => ({
    name,
    resolution: 'epoch',
    value,
    epoch: value.map((_, i) => i),
    step: [],
  })),
});

test('the best monitored value: the monitor, else val_loss, else loss; accuracy is maximised', () => {
  assert.deepEqual(bestMonitored(lossOf(null, [['loss', [3, 1, 2]]])), { name: 'loss', value: 1, epoch: 1 });
  const both = lossOf(null, [
    ['loss', [3, 1, 2]],
    ['val_loss', [5, 4, 4.5, 3.9]],
  ]);
  assert.deepEqual(bestMonitored(both), { name: 'val_loss', value: 3.9, epoch: 3 });
  const acc = lossOf('val_accuracy', [['val_accuracy', [0.5, 0.9, 0.8]]]);
  assert.deepEqual(bestMonitored(acc), { name: 'val_accuracy', value: 0.9, epoch: 1 });
  assert.deepEqual(bestMonitored(lossOf(null, [])), { name: null, value: null, epoch: null });
});

test('the schedule: recorded plan class and key parameters, plateau settings from the events', () => {
  const lr = (plan) => ({ plans: { adam: { class: 'Adam', plan, initialLr: 0.001 } }, optimizers: [] });
  assert.equal(describeSchedule(lr({ type: 'constant', value: 0.001 }), []), 'constant 1e-3');
  const cos = { type: 'CosineDecay', config: { initial_learning_rate: 0.01, decay_steps: 900, alpha: 0 } };
  assert.equal(describeSchedule(lr(cos), []), 'CosineDecay(1e-2, steps 900, alpha 0)');
  const red = { kind: 'reduction', factor: 0.5, patience: 3, old_lr: 1e-3, new_lr: 5e-4 };
  assert.equal(
    describeSchedule(lr({ type: 'constant' }), [red]),
    'constant 1e-3 + ReduceLROnPlateau(factor 0.5, patience 3)',
  );
  assert.equal(describeSchedule(lr({ type: 'constant' }), [{ kind: 'scheduler' }]), 'LearningRateScheduler from 1e-3');
  assert.equal(describeSchedule({ plans: {} }, []), '–');
});

test('a run row counts reductions, takes the final LR and the findings by severity', () => {
  const d = {
    lr: { plans: {}, optimizers: [{ name: 'adam', actual: [1e-3, 5e-4, null] }] },
    loss: lossOf(null, [['val_loss', [2, 1]]]),
    events: [
      { kind: 'reduction', old_lr: 1e-3, new_lr: 5e-4 },
      { kind: 'cooldown' },
      { kind: 'lr_change', old_lr: 5e-4, new_lr: 1e-3 },
    ],
    findings: [{ severity: 'warning' }, { severity: 'info' }, { severity: 'info' }],
  };
  const r = runRow({ run: 'a', source: 'logger', steps: 10, epochs: 2 }, d);
  assert.equal(r.reductions, 1);
  assert.equal(r.finalLr, 5e-4);
  assert.deepEqual([r.best, r.bestEpoch, r.monitor], [1, 1, 'val_loss']);
  assert.deepEqual([r.warnings, r.infos], [1, 2]);
  assert.equal(runRow({ run: 'b', steps: 1, epochs: 0 }, null).best, null);
});
