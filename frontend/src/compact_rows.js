// Lossless thinning of a chart table for the small-multiples grid: the
// rows a line does not need. A small chart redraws every row of every
// series on each zoom of the whole grid; most of a cell's rows are either
// empty for the series it draws (the loss chart's x column also holds the
// batch-loss steps the cell leaves out) or inside a run of equal values
// (an LR held between two changes). Dropping those changes no pixel at
// any zoom, unlike a per-pixel min/max decimation, which is exact only at
// the zoom it was computed for.

/**
 * The rows of `table` ([x, y1, y2, ...], uPlot's columns) that its lines
 * need: every row where a series has a value (a number, or null for a
 * gap) that starts or ends a run of equal values of that series. Dropped:
 * rows where every series is `undefined` (uPlot joins across them), and
 * rows inside a run for every series. A line through the kept rows, linear
 * or stepped, is the line through all of them: inside a run it is flat.
 * The first and last rows are always kept (the x extent).
 *
 * @param {Array<Array<number|null|undefined>>} table x column then y columns.
 * @returns {Array<Array<number|null|undefined>>} the kept rows, same columns.
 *
 * Example:
 *   compactRows([[1, 2, 3, 4, 5], [1, 1, 1, 2, undefined]])
 *   // -> [[1, 3, 4, 5], [1, 1, 2, undefined]]
 */
export function compactRows(table) {
  const n = table[0].length;
  if (n < 3) return table;
  const keep = new Uint8Array(n);
  keep[0] = 1;
  keep[n - 1] = 1;
  for (let s = 1; s < table.length; s++) markRunEnds(table[s], keep);
  let count = 0;
  for (let i = 0; i < n; i++) count += keep[i];
  if (count === n) return table;
  return table.map((col) => {
    const out = new Array(count);
    for (let i = 0, j = 0; i < n; i++) if (keep[i]) out[j++] = col[i];
    return out;
  });
}

// Marks in `keep` the first and the last row of each run of equal defined
// values of `col` (null is a value: a gap's ends are kept).
function markRunEnds(col, keep) {
  let prev = -1;
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    if (v === undefined) continue;
    if (prev < 0 || col[prev] !== v) {
      keep[i] = 1;
      if (prev >= 0) keep[prev] = 1;
    }
    prev = i;
  }
  if (prev >= 0) keep[prev] = 1;
}
