// Small multiples: one small loss-over-LR pair per selected run in a grid,
// every cell on the same axes (x extent, loss range, LR range), so runs
// compare at a glance; a drag-zoom in any cell zooms them all.

import { drawCounter, managedPlot, steppedPaths } from './plot.js';
import { multipleOptions } from './chart_options.js';
import { buildView } from './shape.js';
import { el } from './dom.js';

const HEIGHT = { loss: 96, lr: 96 };
const MIN_WIDTH = 200;

/**
 * @param {HTMLElement} host where the grid goes.
 * @param {{theme: () => object, onPick?: (run: string) => void}} options
 */
export function createSmallMultiples(host, { theme, onPick = () => {} }) {
  const grid = el('div', { cls: 'lr-multiples', attrs: { 'data-role': 'multiples' } });
  host.append(grid);
  let cells = [];
  let syncing = false;
  const all = () => cells.flatMap((c) => [c.loss.plot, c.lr.plot]).filter(Boolean);
  function onScale(u, key) {
    if (key !== 'x' || syncing) return;
    syncing = true;
    try {
      const { min, max } = u.scales.x;
      for (const p of all())
        if (p !== u && (p.scales.x.min !== min || p.scales.x.max !== max)) p.setScale('x', { min, max });
      grid.dataset.xMin = String(min);
      grid.dataset.xMax = String(max);
    } finally {
      syncing = false;
    }
  }
  const hooks = { setScale: [onScale], draw: [drawCounter(grid, { timed: true })] };

  return {
    /** Draws one pair per run of `datas` (client.runData answers) with `colours` (shape.assignColours). */
    update(datas, { axis, lossLog, colours }) {
      destroyCells(cells);
      grid.textContent = '';
      grid.dataset.draws = '0';
      const views = datas.map((d) => recolour(buildView([d], { axis, lossLog }), colours.get(d.run)));
      const ranges = sharedRanges(views);
      const stepped = steppedPaths();
      cells = datas.map((d, i) => cell(grid, d.run, views[i], { theme: theme(), ranges, hooks, stepped, onPick }));
      grid.dataset.cells = String(cells.length);
      if (ranges.x) all()[0] && all()[0].setScale('x', { min: ranges.x[0], max: ranges.x[1] });
    },
    clear() {
      destroyCells(cells);
      cells = [];
      grid.textContent = '';
    },
    element: grid,
  };
}

function cell(grid, run, view, ctx) {
  const title = el('div', { cls: 'lr-multiple-title', text: run, attrs: { title: run } });
  const lossTarget = el('div', { cls: 'lr-plot' });
  const lrTarget = el('div', { cls: 'lr-plot' });
  const box = el('section', { cls: 'lr-card lr-multiple', attrs: { 'data-run': run } }, [title, lossTarget, lrTarget]);
  title.addEventListener('click', () => ctx.onPick(run));
  grid.append(box);
  const cursor = { drag: { x: true, y: false, setScale: true }, focus: { prox: 16 } };
  const loss = managedPlot(box, lossTarget, { height: HEIGHT.loss, minWidth: MIN_WIDTH });
  const lr = managedPlot(box, lrTarget, { height: HEIGHT.lr, minWidth: MIN_WIDTH });
  const opts = (role) => () => multipleOptions(role, view, { ...ctx, cursor, lossSeries: cellSeries(view) });
  if (cellSeries(view).length) loss.draw('loss', opts('loss'), lossColumns(view));
  if (view.lr.series.length) lr.draw('lr', opts('lr'), view.lr.data);
  return { loss, lr };
}

// The loss chart's columns (the series cellSeries keeps).
function lossColumns(view) {
  const keep = new Set(cellSeries(view));
  return [
    view.loss.data[0],
    ...view.loss.series.map((s, i) => (keep.has(s) ? view.loss.data[i + 1] : null)).filter(Boolean),
  ];
}

/**
 * The loss series of a cell: on the left axis only (a cell has one y
 * axis), and the epoch losses without the per-step batch loss when the run
 * has both (a small chart cannot show the batch noise, and it is the
 * costliest line to redraw on every zoom of 100 charts).
 */
export function cellSeries(view) {
  const left = view.loss.series.filter((s) => s.scale === 'y');
  const epochs = left.filter((s) => s.kind !== 'batch');
  return epochs.length ? epochs : left;
}

function recolour(view, colour) {
  if (!colour) return view;
  for (const s of view.loss.series) s.color = colour.run;
  for (const s of view.lr.series) s.color = colour.optimizer.get(s.optimizer) || colour.run;
  return view;
}

/** The axes every cell shares: the union of the x extents, of the loss values, of the LRs. */
export function sharedRanges(views) {
  const x = [Infinity, -Infinity];
  const loss = [Infinity, -Infinity];
  const lr = [Infinity, -Infinity];
  const widen = (r, v) => {
    if (typeof v === 'number' && Number.isFinite(v)) {
      if (v < r[0]) r[0] = v;
      if (v > r[1]) r[1] = v;
    }
  };
  for (const v of views) {
    const kept = new Set(cellSeries(v));
    if (v.extent) v.extent.forEach((e) => widen(x, e));
    v.loss.series.forEach(
      (s, i) => kept.has(s) && v.loss.data[i + 1].forEach((y) => widen(loss, v.loss.log && y <= 0 ? NaN : y)),
    );
    for (let i = 1; i < v.lr.data.length; i++) for (const y of v.lr.data[i]) widen(lr, y > 0 ? y : NaN);
  }
  const ok = (r) => (r[0] <= r[1] ? (r[0] === r[1] ? [r[0] * 0.9 || -1, r[1] * 1.1 || 1] : r) : null);
  const lossLog = views.some((v) => v.loss.log);
  const pad = (r) => (r && !lossLog ? [r[0] - (r[1] - r[0]) * 0.05, r[1] + (r[1] - r[0]) * 0.05] : r);
  const lrR = ok(lr);
  return { x: ok(x), loss: pad(ok(loss)), lr: lrR && [lrR[0] / 1.25, lrR[1] * 1.25] };
}

function destroyCells(cells) {
  for (const c of cells) {
    c.loss.destroy();
    c.lr.destroy();
  }
}
