// Where marker labels go: rows of labels above a chart that never overlap.
// Pure (no DOM), unit-tested with node; plugins.js measures the labels and
// positions them from this answer.

export const LABEL_ROWS = 3;
export const LABEL_GAP = 4; // CSS px between two labels of a row
export const DOT_WIDTH = 9; // an elided label: a dot on the marker, its text on hover
// With more runs than this having markers, per-run labels are off: the run
// table and the markers' tooltips carry the detail.
export const MAX_LABELLED_RUNS = 4;

/**
 * Places labels in rows, left to right: each label goes in the first row
 * where it fits whole; else it becomes a dot on its marker in a row of dots
 * below (`rows`), if there is room there; else it is left out (its marker
 * keeps the tooltip). Boxes of one row never overlap (labels `gap` px
 * apart, dots 1 px), so no two placed boxes overlap.
 *
 * @param {{anchor: number, width: number}[]} items the marker's x and the
 *   label's measured width (CSS px); a label starts just right of its marker,
 *   or ends left of it when it would leave the plot.
 * @param {{rows?: number, gap?: number, dot?: number, right?: number}} options
 *   `right` is the plot's width.
 * @returns {{row: number, mode: 'full'|'dot'|'none', start: number, width: number}[]}
 *   row: 0..rows-1 for a label, `rows` for a dot, -1 when left out.
 *   in the order of `items`.
 */
export function placeLabels(items, { rows = LABEL_ROWS, gap = LABEL_GAP, dot = DOT_WIDTH, right = Infinity } = {}) {
  const boxes = items.map((it, i) => ({ i, start: labelStart(it, right), width: it.width, anchor: it.anchor }));
  boxes.sort((a, b) => a.start - b.start || a.i - b.i);
  const lastRight = new Array(rows).fill(-Infinity);
  let dotRight = -Infinity;
  const out = new Array(items.length);
  const fits = (row, start) => lastRight[row] + gap <= start;
  for (const b of boxes) {
    let row = lastRight.findIndex((_, r) => fits(r, b.start));
    if (row >= 0) {
      lastRight[row] = b.start + b.width;
      out[b.i] = { row, mode: 'full', start: b.start, width: b.width };
      continue;
    }
    // No row has room for the text: a dot on the marker, in the row below
    // the labels (dots only, 1 px apart).
    const dotStart = b.anchor - dot / 2;
    if (dotRight + 1 <= dotStart) {
      dotRight = dotStart + dot;
      out[b.i] = { row: rows, mode: 'dot', start: dotStart, width: dot };
    } else out[b.i] = { row: -1, mode: 'none', start: b.anchor, width: 0 };
  }
  return out;
}

function labelStart({ anchor, width }, right) {
  const start = anchor + 3;
  return start + width > right ? Math.max(0, anchor - 3 - width) : start;
}

/**
 * Markers of one kind at the same x (runs reducing at the same step) as
 * one group: one line, one label per marker. Sorted by x.
 *
 * @param {{x: number}[]} markers
 * @returns {{x: number, markers: object[]}[]}
 */
export function groupMarkers(markers) {
  const byPlace = new Map();
  for (const m of markers) {
    const key = `${m.x}\u0000${m.kind ?? ''}`;
    if (!byPlace.has(key)) byPlace.set(key, { x: m.x, markers: [] });
    byPlace.get(key).markers.push(m);
  }
  return [...byPlace.values()].sort((a, b) => a.x - b.x);
}

/** Whether the charts label each marker: only with few runs having markers. */
export function labelsWanted(markers, max = MAX_LABELLED_RUNS) {
  return new Set(markers.map((m) => m.run)).size <= max;
}
