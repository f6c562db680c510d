import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEpochMap, mapAll } from '../src/axis.js';

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('an epoch end maps to its epoch number and back', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2, 3], step: [50, 100, 150, 200] });
  for (const [s, e] of [[50, 0], [100, 1], [150, 2], [200, 3]]) {
    close(m.toEpoch(s), e);
    close(m.toStep(e), s);
  }
  assert.equal(m.stepsPerEpoch, 50);
});

test('steps inside an epoch lie proportionally between k - 1 and k', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2], step: [50, 100, 150] });
  close(m.toEpoch(75), 0.5);
  close(m.toEpoch(25), -0.5);
  close(m.toEpoch(0), -1);
  close(m.toStep(1.5), 125);
});

test('uneven epochs (a shorter last batch) interpolate per epoch', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2], step: [40, 80, 90] });
  close(m.toEpoch(85), 1.5);
  close(m.toEpoch(60), 0.5);
});

test('steps after the last epoch extrapolate with its length', () => {
  const m = makeEpochMap({ epoch: [0, 1], step: [10, 30] });
  close(m.toEpoch(40), 1.5);
  close(m.toStep(3), 70);
});

test('a resumed run (initial_epoch > 0) starts from the right place', () => {
  const m = makeEpochMap({ epoch: [5, 6, 7], step: [600, 700, 800] });
  close(m.toEpoch(550), 4.5);
  close(m.toEpoch(700), 6);
});

test('a single epoch is enough', () => {
  const m = makeEpochMap({ epoch: [0], step: [20] });
  close(m.toEpoch(10), -0.5);
  close(m.toEpoch(30), 0.5);
});

test('unsorted, repeated and bad rows are tolerated', () => {
  const m = makeEpochMap({ epoch: [2, 0, 1, 1, null, 3], step: [150, 50, 100, 100, 175, 'x'] });
  close(m.toEpoch(150), 2);
  close(m.toEpoch(100), 1);
  assert.equal(m.knots, 3);
});

test('an epoch without updates keeps the later epoch number', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2], step: [50, 50, 100] });
  close(m.toEpoch(50), 1);
  close(m.toEpoch(100), 2);
});

test('no usable epoch gives no map', () => {
  assert.equal(makeEpochMap(null), null);
  assert.equal(makeEpochMap({ epoch: [], step: [] }), null);
  assert.equal(makeEpochMap({ epoch: [null], step: [1] }), null);
});

test('the mapping is monotonic, so sorted steps stay sorted', () => {
  const m = makeEpochMap({ epoch: [0, 1, 2, 3], step: [7, 30, 31, 90] });
  const xs = mapAll(Array.from({ length: 120 }, (_, i) => i + 1), m.toEpoch);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] > xs[i - 1]);
});

test('mapAll keeps nulls', () => {
  assert.deepEqual(mapAll([1, null, 3], (x) => x * 2), [2, null, 6]);
});
