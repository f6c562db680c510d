// What the tab asks for first, and the URL of every route: shared by the
// small entry module (entry.js, which sends the first request from its
// first line) and the app (which adopts that request when it asks for the
// same URL), so both build it byte for byte alike. No DOM, no imports.

// Selected when the tab first opens: every run of a usual logdir, as
// TensorBoard's dashboards select every run; the first ones of a large
// one, so that it opens quickly (each selected run costs a request per route).
export const DEFAULT_SELECTED = 10;
// Points per series for the small-multiples grid (cells of 200-450 px),
// and for the charts when more than MANY_RUNS runs overlap on them.
export const FEW_POINTS = 500;
export const MANY_RUNS = 10;
// The most runs one `view` request names (the plugin's view.MAX_RUNS).
export const VIEW_CHUNK = 100;
// What the first draw needs of each run.
export const FIRST_PARTS = ['lr', 'loss', 'events'];

/** The points per series to ask for `count` runs: fewer in the grid or with many runs on a chart. */
export function pointsFor(multiples, count) {
  return (multiples && count >= 2) || count > MANY_RUNS ? FEW_POINTS : null;
}

/**
 * The first `view` to ask for, from the saved state (storage.loadState()).
 *
 * @returns {{runs: string[]|number, points: number|null}|null} the saved
 *   selection's names or the listing's first DEFAULT_SELECTED runs; null when
 *   nothing is selected or too many runs are (then the listing comes first).
 */
export function firstView(saved) {
  const names = Array.isArray(saved && saved.selected) ? saved.selected.filter((r) => typeof r === 'string') : null;
  const runs = names || DEFAULT_SELECTED;
  const many = names ? names.length : DEFAULT_SELECTED;
  if (!many || many > VIEW_CHUNK) return null;
  return { runs, points: pointsFor(Boolean(saved && saved.multiples), many) };
}

/** The query of `view`: `runs` by name (`run=`, repeated) or the listing's first N (`first=N`). */
export function viewParams(runs, { parts = [], points = null, listing = false } = {}) {
  const named = Array.isArray(runs) ? runs.map((r) => ['run', r]) : [['first', String(runs)]];
  const params = [...named, ...parts.map((p) => ['part', p])];
  if (points) params.push(['points', String(points)]);
  if (listing) params.push(['listing', '1']);
  return params;
}

/** A route's URL, relative to the iframe's <base href="plugin/learning_rate/">. */
export function routeUrl(route, params) {
  return params ? `./${route}?${new URLSearchParams(params)}` : `./${route}`;
}

/** The URL of the first request (firstView's `view` with the listing), or null. */
export function firstViewUrl(saved) {
  const first = firstView(saved);
  if (!first) return null;
  return routeUrl('view', viewParams(first.runs, { parts: FIRST_PARTS, points: first.points, listing: true }));
}
