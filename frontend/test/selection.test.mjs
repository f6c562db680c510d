// Which runs are selected after each listing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SELECTED } from '../src/first_view.js';
import { nextSelection } from '../src/selection.js';

const listing = (...names) => names.map((run) => ({ run }));

test('the first listing selects its first runs, or the saved ones still listed', () => {
  const many = Array.from({ length: DEFAULT_SELECTED + 3 }, (_, i) => `r${i}`);
  assert.deepEqual(nextSelection(listing(...many), null, null), many.slice(0, DEFAULT_SELECTED));
  assert.deepEqual(nextSelection(listing('a', 'b', 'c'), new Set(['c', 'gone']), null), ['c']);
  // Every saved run gone: the first runs again.
  assert.deepEqual(nextSelection(listing('a', 'b'), new Set(['gone']), null), ['a', 'b']);
});

test('runs that appear later join the selection while it has room', () => {
  assert.deepEqual(nextSelection(listing('a', 'b', 'c'), new Set(['a']), listing('a')), ['a', 'b', 'c']);
  // A run the user unchecked stays unchecked; only new ones join.
  assert.deepEqual(nextSelection(listing('a', 'b', 'c'), new Set(['a']), listing('a', 'b')), ['a', 'c']);
  const full = Array.from({ length: DEFAULT_SELECTED }, (_, i) => `r${i}`);
  assert.deepEqual(nextSelection(listing(...full, 'new'), new Set(full), listing(...full)), full);
  // After an empty listing (nothing loaded yet), the saved selection is kept as it is.
  assert.deepEqual(nextSelection(listing('a', 'b'), new Set(['b']), []), ['b']);
});
