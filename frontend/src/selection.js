// Which runs are selected after each listing of the runs.
import { DEFAULT_SELECTED } from './first_view.js';

/**
 * The runs to show after a listing, as TensorBoard's run selector picks
 * them: the selection so far (the runs of it still listed), else the
 * listing's first DEFAULT_SELECTED runs. Runs that appeared since the last
 * listing join the selection while it has room: a TensorBoard that has
 * just started lists its runs as it loads them, and a run that a training
 * starts later is shown as Scalars shows it.
 *
 * @param {{run: string}[]} runs the listing, in its order
 * @param {Set<string>|null} selected the selection so far (null: none yet)
 * @param {{run: string}[]|null} before the previous listing (null or empty: this is the first)
 * @returns {string[]} the names to select
 *
 * Example: nextSelection([{run: 'a'}, {run: 'b'}], new Set(['a']), [{run: 'a'}]) -> ['a', 'b']
 */
export function nextSelection(runs, selected, before) {
  const names = new Set(runs.map((r) => r.run));
  const kept = selected ? [...selected].filter((r) => names.has(r)) : null;
  if (!kept || (!kept.length && selected.size)) return runs.slice(0, DEFAULT_SELECTED).map((r) => r.run);
  if (before && before.length) {
    const seen = new Set(before.map((r) => r.run));
    for (const r of runs) if (!seen.has(r.run) && kept.length < DEFAULT_SELECTED) kept.push(r.run);
  }
  return kept;
}
