import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatCompact,
  formatDownsampling,
  formatEpoch,
  formatEpochX,
  formatLR,
  formatLRChange,
  formatStep,
  formatValue,
  formatWait,
  formatWaitPhrase,
} from '../src/format.js';

test('formatLR writes learning rates in compact scientific notation', () => {
  assert.equal(formatLR(0.001), '1e-3');
  assert.equal(formatLR(0.00025), '2.5e-4');
  assert.equal(formatLR(0.1234), '1.23e-1');
  assert.equal(formatLR(1e-7), '1e-7');
  assert.equal(formatLR(3e-10), '3e-10');
  assert.equal(formatLR(1), '1');
  assert.equal(formatLR(2.5), '2.5');
  assert.equal(formatLR(12), '1.2e1');
});

test('formatLR rounds float32 noise away', () => {
  assert.equal(formatLR(Math.fround(0.001)), '1e-3');
  assert.equal(formatLR(0.0010000000474974513), '1e-3');
  assert.equal(formatLR(Math.fround(0.0003)), '3e-4');
  assert.equal(formatLR(9.999999747378752e-6), '1e-5');
});

test('formatLR handles missing and special values', () => {
  assert.equal(formatLR(null), '–');
  assert.equal(formatLR(undefined), '–');
  assert.equal(formatLR(NaN), 'NaN');
  assert.equal(formatLR(0), '0');
  assert.equal(formatLR(Infinity), '∞');
  assert.equal(formatLR(-1e-3), '-1e-3');
});

test('formatLR honours the number of significant digits', () => {
  assert.equal(formatLR(0.000123456, 2), '1.2e-4');
  assert.equal(formatLR(0.000123456, 5), '1.2346e-4');
});

test('formatLRChange is the marker label', () => {
  assert.equal(formatLRChange(0.001, 0.0001), '1e-3 → 1e-4');
  assert.equal(formatLRChange(Math.fround(1e-3), Math.fround(3e-4)), '1e-3 → 3e-4');
});

test('formatValue keeps 4 significant digits', () => {
  assert.equal(formatValue(0.523456), '0.5235');
  assert.equal(formatValue(12.5), '12.5');
  assert.equal(formatValue(1234.5678), '1235');
  assert.equal(formatValue(123456.7), '123500');
  assert.equal(formatValue(0.00001234), '1.234e-5');
  assert.equal(formatValue(2e7), '2e7');
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(null), '–');
  assert.equal(formatValue(NaN), 'NaN');
});

test('formatStep groups thousands', () => {
  assert.equal(formatStep(1000000), '1,000,000');
  assert.equal(formatStep(999), '999');
  assert.equal(formatStep(1234.6), '1,235');
  assert.equal(formatStep(-12000), '-12,000');
  assert.equal(formatStep(null), '–');
});

test('formatCompact shortens axis ticks', () => {
  assert.equal(formatCompact(1500), '1.5k');
  assert.equal(formatCompact(2000000), '2M');
  assert.equal(formatCompact(250000), '250k');
  assert.equal(formatCompact(999), '999');
  assert.equal(formatCompact(0.5), '0.5');
  assert.equal(formatCompact(0), '0');
  assert.equal(formatCompact(-3000), '-3k');
});

test('formatEpoch prints epochs as Keras does, formatEpochX places on the epoch axis, formatWait', () => {
  assert.equal(formatEpoch(0), '1');
  assert.equal(formatEpoch(4), '5');
  assert.equal(formatEpoch(null), '–');
  assert.equal(formatEpochX(4), '4');
  assert.equal(formatEpochX(4.5), '4.5');
  assert.equal(formatEpochX(undefined), '–');
  assert.equal(formatWait(3, 5), '3/5');
  assert.equal(formatWait(null, null), '–');
  assert.equal(formatWait(2, undefined), '2/?');
});

test('formatWait speaks each framework: Keras wait >= patience, torch num_bad_epochs > patience', () => {
  assert.equal(formatWait(3, 2, 'torch'), 'num_bad_epochs 3 > patience 2');
  assert.equal(formatWait(2, 2, 'torch'), 'num_bad_epochs 2 <= patience 2');
  assert.equal(formatWait(3, 3, 'keras'), '3/3');
  assert.equal(formatWaitPhrase({ wait: 3, patience: 3 }), 'wait 3/3');
  assert.equal(formatWaitPhrase({ wait: 3, patience: 2, framework: 'torch' }), 'num_bad_epochs 3 > patience 2');
});

test('formatDownsampling says what the chart shows', () => {
  assert.equal(formatDownsampling(2000, 1000000, true), 'showing 2,000 of 1,000,000 points (every LR change kept)');
  assert.equal(formatDownsampling(2000, 2000, false), '');
  assert.equal(formatDownsampling(50, 50, true), '');
});
