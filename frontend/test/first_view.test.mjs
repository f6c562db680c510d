// The first request: what entry.js sends before the tab is loaded, and the
// tab taking it when it asks for the same URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adoptStarted, createClient } from '../src/data.js';
import { DEFAULT_SELECTED, FEW_POINTS, FIRST_PARTS, VIEW_CHUNK, firstView, firstViewUrl } from '../src/first_view.js';
import { prefetchView } from '../src/run_loader.js';

const recording = () => {
  const calls = [];
  const fn = async (url) => {
    calls.push(url);
    return new Response(JSON.stringify({ runs: [], listing: [] }), { status: 200 });
  };
  fn.calls = calls;
  return fn;
};

test('the first view: the saved selection, else the first runs; none when empty or too many', () => {
  assert.deepEqual(firstView({}), { runs: DEFAULT_SELECTED, points: null });
  assert.deepEqual(firstView({ selected: ['b', 'a'] }), { runs: ['b', 'a'], points: null });
  assert.deepEqual(firstView({ selected: ['b', 'a'], multiples: true }), { runs: ['b', 'a'], points: FEW_POINTS });
  assert.deepEqual(firstView({ selected: ['a', 7, null] }), { runs: ['a'], points: null });
  assert.equal(firstView({ selected: [] }), null);
  const many = Array.from({ length: VIEW_CHUNK + 1 }, (_, i) => `r${i}`);
  assert.equal(firstView({ selected: many }), null);
  assert.equal(firstView({ selected: many.slice(0, 11) }).points, FEW_POINTS);
});

test('entry.js builds the URL the tab asks for, byte for byte', async () => {
  for (const saved of [{}, { selected: ['<b>&c', 'ü/学'] }, { selected: ['a', 'b'], multiples: true }]) {
    const fetch = recording();
    const first = firstView(saved);
    await prefetchView(createClient(fetch), first.runs, first.points).done;
    assert.deepEqual(fetch.calls, [firstViewUrl(saved)]);
    assert.match(fetch.calls[0], new RegExp(`${FIRST_PARTS.map((p) => `part=${p}`).join('&')}.*listing=1$`));
  }
});

test('the tab takes the started request once, then fetches', async () => {
  const fetch = recording();
  const started = { url: './view?first=10', response: Promise.resolve(new Response('{"runs":[]}')) };
  const adopted = adoptStarted(started, fetch);
  assert.equal(await adopted('./view?first=10'), await started.response);
  await adopted('./view?first=10');
  await adopted('./runs');
  assert.deepEqual(fetch.calls, ['./view?first=10', './runs']);
  const other = adoptStarted(null, fetch);
  await other('./lr?run=a');
  assert.equal(fetch.calls.at(-1), './lr?run=a');
});
