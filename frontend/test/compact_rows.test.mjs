import test from 'node:test';
import assert from 'node:assert/strict';

import { compactRows } from '../src/compact_rows.js';

// The value a line through `xs`/`ys` shows at x: stepped (a value holds
// until the next point) or linear, joining across undefined; null is a gap.
function lineAt(xs, ys, x, stepped) {
  let i = -1;
  for (let k = 0; k < xs.length && xs[k] <= x; k++) if (ys[k] !== undefined) i = k;
  if (i < 0) return 'none';
  if (ys[i] === null) return null;
  if (xs[i] === x || stepped) return ys[i];
  let j = i + 1;
  while (j < xs.length && ys[j] === undefined) j++;
  if (j >= xs.length) return 'none';
  if (ys[j] === null) return null;
  return ys[i] + ((ys[j] - ys[i]) * (x - xs[i])) / (xs[j] - xs[i]);
}

// A random table of a few held values with changes, gaps and empty rows,
// like an LR (held between changes) or the loss chart's columns.
function randomTable(rng, n, series) {
  const xs = Array.from({ length: n }, (_, i) => i * 10 + 1);
  const cols = [];
  for (let s = 0; s < series; s++) {
    let v = 0.1;
    cols.push(
      xs.map(() => {
        const r = rng();
        if (r < 0.05) v = Math.round(rng() * 1000) / 1000;
        if (r > 0.97) return null;
        if (r > 0.9) return undefined;
        return v;
      }),
    );
  }
  return [xs, ...cols];
}

function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('compactRows drops empty rows and the inside of runs of equal values', () => {
  const table = [
    [1, 2, 3, 4, 5, 6, 7],
    [1, 1, 1, 2, undefined, 2, 2],
    [undefined, 5, 5, 5, undefined, 5, 7],
  ];
  assert.deepEqual(compactRows(table), [
    [1, 2, 3, 4, 6, 7],
    [1, 1, 1, 2, 2, 2],
    [undefined, 5, 5, 5, 5, 7],
  ]);
  // Nothing to drop: the very same table.
  const tight = [
    [1, 2, 3],
    [1, 2, 3],
  ];
  assert.equal(compactRows(tight), tight);
});

test('compactRows keeps a gap and the values on either side of it', () => {
  const t = compactRows([
    [1, 2, 3, 4, 5, 6],
    [1, 1, null, null, 1, 1],
  ]);
  assert.deepEqual(t, [
    [1, 2, 3, 4, 5, 6],
    [1, 1, null, null, 1, 1],
  ]);
});

test('compactRows keeps every change point, min and max, and draws the same lines', () => {
  const rng = mulberry32(19);
  for (let trial = 0; trial < 200; trial++) {
    const table = randomTable(rng, 3 + Math.floor(rng() * 400), 1 + Math.floor(rng() * 3));
    const out = compactRows(table);
    const xs = table[0];
    assert.equal(out[0][0], xs[0]);
    assert.equal(out[0].at(-1), xs.at(-1));
    assert.ok(out[0].length <= xs.length);
    for (let s = 1; s < table.length; s++) {
      const ys = table[s];
      const kept = new Map(out[0].map((x, i) => [x, out[s][i]]));
      const defined = ys.map((v, i) => [xs[i], v]).filter(([, v]) => v !== undefined);
      // Every change point: the row before and the row after a change of value.
      for (let k = 1; k < defined.length; k++) {
        if (defined[k][1] === defined[k - 1][1]) continue;
        assert.equal(kept.get(defined[k - 1][0]), defined[k - 1][1]);
        assert.equal(kept.get(defined[k][0]), defined[k][1]);
      }
      const nums = (vs) => vs.filter((v) => typeof v === 'number');
      if (nums(ys).length) {
        assert.equal(Math.min(...nums(out[s])), Math.min(...nums(ys)));
        assert.equal(Math.max(...nums(out[s])), Math.max(...nums(ys)));
      }
      // The same line everywhere, stepped or linear, including between rows.
      for (let x = xs[0]; x <= xs.at(-1); x += 2.5) {
        for (const stepped of [true, false]) {
          assert.equal(lineAt(out[0], out[s], x, stepped), lineAt(xs, ys, x, stepped), `x ${x}`);
        }
      }
    }
  }
});

test('compactRows thins a held LR to its changes', () => {
  const n = 2000;
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  const lr = xs.map((x) => (x <= 700 ? 1e-3 : x <= 1400 ? 3e-4 : 9e-5));
  const planned = xs.map(() => 1e-3);
  const out = compactRows([xs, lr, planned]);
  assert.deepEqual(out[0], [1, 700, 701, 1400, 1401, 2000]);
});
