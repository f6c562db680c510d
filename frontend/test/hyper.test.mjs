import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHyper, parseLr } from '../src/data.js';
import { sparkPoints } from '../src/hyper_panel.js';

test('hyperparameters are parsed per series and parameter', () => {
  const got = parseHyper({
    'Adam/pg1': { momentum: { step: [1, 2], value: [0.9, 0.9] }, weight_decay: { step: [1], value: [0] } },
    bad: 'x',
  });
  assert.deepEqual(
    got.map((h) => [h.name, h.param, h.step, h.value]),
    [
      ['Adam/pg1', 'momentum', [1, 2], [0.9, 0.9]],
      ['Adam/pg1', 'weight_decay', [1], [0]],
    ],
  );
  assert.deepEqual(parseLr({ optimizers: [] }).hyper, []);
});

test('the lr answer carries limits and what the scalar reservoir kept', () => {
  const lr = parseLr({ limits: ['epoch resolution only', 3], sampled: [{ name: 'lr', shown: 1000, steps: 5000 }, {}] });
  assert.deepEqual(lr.limits, ['epoch resolution only']);
  assert.deepEqual(lr.sampled, [{ name: 'lr', shown: 1000, steps: 5000 }]);
});

test('a spark line spans its box; a constant series is a flat line', () => {
  assert.equal(sparkPoints([1, 2, 3], [0, 1, 2], 12, 12), '1.0,11.0 6.0,6.0 11.0,1.0');
  assert.equal(sparkPoints([1, 2], [0.9, 0.9], 12, 12), '1.0,6.0 11.0,6.0');
  assert.equal(sparkPoints([], [], 12, 12), '');
});
