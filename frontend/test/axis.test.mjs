import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochX, makeEpochMap, mapAll } from '../src/axis.js';

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('an epoch end maps to the epochs completed and back', () => {
  // Data epochs are 0-based (as Keras passes them); epoch 0 ends at x = 1.
  const m = makeEpochMap({ epoch: [0, 1, 2, 3], step: [50, 100, 150, 200] });
  for (const [s, e] of [
    [50, 1],
    [100, 2],
    [150, 3],
    [200, 4],
  ]) {
    close(m.toEpoch(s), e);
    close(m.toStep(e), s);
  }
  assert.equal(m.stepsPerEpoch, 50);
  close(epochX(0), 1);
});

test('steps inside an epoch lie proportionally between its start and end', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2], step: [50, 100, 150] });
  close(m.toEpoch(75), 1.5);
  close(m.toEpoch(25), 0.5);
  close(m.toEpoch(0), 0);
  close(m.toStep(2.5), 125);
});

test('uneven epochs (a shorter last batch) interpolate per epoch', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2], step: [40, 80, 90] });
  close(m.toEpoch(85), 2.5);
  close(m.toEpoch(60), 1.5);
});

test('steps after the last epoch extrapolate with its length', () => {
  const m = makeEpochMap({ epoch: [0, 1], step: [10, 30] });
  close(m.toEpoch(40), 2.5);
  close(m.toStep(4), 70);
});

test('a resumed run (initial_epoch > 0) starts from the right place', () => {
  const m = makeEpochMap({ epoch: [5, 6, 7], step: [600, 700, 800] });
  close(m.toEpoch(550), 5.5);
  close(m.toEpoch(700), 7);
});

test('a single epoch is enough', () => {
  const m = makeEpochMap({ epoch: [0], step: [20] });
  close(m.toEpoch(10), 0.5);
  close(m.toEpoch(30), 1.5);
  const later = makeEpochMap({ epoch: [3], step: [80] });
  close(later.toEpoch(60), 3); // 80 steps in 4 epochs: 20 an epoch
});

test('unsorted, repeated and bad rows are tolerated', () => {
  const m = makeEpochMap({ epoch: [2, 0, 1, 1, null, 3], step: [150, 50, 100, 100, 175, 'x'] });
  close(m.toEpoch(150), 3);
  close(m.toEpoch(100), 2);
  assert.equal(m.knots, 3);
});

test('an epoch without updates keeps the later epoch number', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2], step: [50, 50, 100] });
  close(m.toEpoch(50), 2);
  close(m.toEpoch(100), 3);
});

test('no usable epoch gives no map', () => {
  assert.equal(makeEpochMap(null), null);
  assert.equal(makeEpochMap({ epoch: [], step: [] }), null);
  assert.equal(makeEpochMap({ epoch: [null], step: [1] }), null);
});

test('the mapping is monotonic, so sorted steps stay sorted', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2, 3], step: [7, 30, 31, 90] });
  const xs = mapAll(
    Array.from({ length: 120 }, (_, i) => i + 1),
    m.toEpoch,
  );
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] > xs[i - 1]);
});

test('mapAll keeps nulls', () => {
  assert.deepEqual(
    mapAll([1, null, 3], (x) => x * 2),
    [2, null, 6],
  );
});
