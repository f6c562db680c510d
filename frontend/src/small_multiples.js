// Small multiples: one small loss-over-LR pair per selected run in a grid,
// every cell on the same axes (x extent, loss range, LR range), so runs
// compare at a glance; a drag-zoom in any cell zooms them all.

import { drawCounter, managedPlot, steppedPaths } from './plot.js';
import { multipleOptions } from './chart_options.js';
import { buildView } from './shape.js';
import { el } from './dom.js';
import { compactRows } from './compact_rows.js';

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
  let plots = [];
  let drawnAxis = null;
  // What every cell's options read at draw time: a refresh with new data
  // updates them in place instead of rebuilding the cells.
  const shared = { x: null, loss: null, lr: null };
  const zoom = gridZoom(grid, shared, () => plots);
  const hooks = { setScale: [zoom.onScale], draw: [drawCounter(grid, { timed: true })] };
  const cursor = {
    drag: { x: true, y: false, setScale: true },
    focus: { prox: 16 },
    // A double-click shows the whole shared x extent, not the cell's own.
    bind: { dblclick: () => () => zoom.reset() },
  };

  return {
    /**
     * Draws one pair per run of `datas` (client.runData answers) with
     * `colours` (shape.assignColours). The same runs again (a refresh) set
     * the new data on the cells there and keep the zoom.
     */
    update(datas, { axis, lossLog, colours }) {
      if (axis !== drawnAxis) zoom.reset(); // a range in steps means nothing in epochs
      drawnAxis = axis;
      const views = datas.map((d) => recolour(buildView([d], { axis, lossLog }), colours.get(d.run)));
      Object.assign(shared, sharedRanges(views));
      const name = theme().name;
      const sigs = views.map((v) => cellSignature(v, shared, name));
      const same = cells.length === views.length && cells.every((c, i) => c.run === datas[i].run && c.sig === sigs[i]);
      const x = zoom.target();
      if (same) {
        cells.forEach((c, i) => c.refill(cellTables(views[i]), x));
        return;
      }
      destroyCells(cells);
      grid.textContent = '';
      grid.dataset.draws = '0';
      const ctx = { theme: theme(), ranges: shared, x, hooks, cursor, stepped: steppedPaths(), onPick };
      cells = buildCells(grid, datas, views, sigs, ctx);
      plots = cells.flatMap((c) => [c.loss.plot, c.lr.plot]).filter(Boolean);
      grid.dataset.cells = String(cells.length);
      // Each chart was built on `x` (its options): the first draws need no sync.
      zoom.mark(x);
    },
    /** Shows the whole x extent again (the toolbar's "Reset zoom"). */
    resetZoom: () => zoom.reset(),
    clear() {
      destroyCells(cells);
      cells = [];
      plots = [];
      grid.textContent = '';
    },
    element: grid,
  };
}

// The x range every cell shows: a drag-zoom in one cell is applied to all
// the others, each redrawn at once in one batch (uPlot's batch() commits
// synchronously, so no cell re-enters the sync from its own setScale hook);
// kept across refreshes; null when the whole extent is shown.
function gridZoom(grid, shared, plots) {
  let range = null;
  let syncing = false;
  const isFull = (min, max) => {
    const e = shared.x;
    const tol = e ? (e[1] - e[0]) * 1e-6 : 0;
    return !e || (min <= e[0] + tol && max >= e[1] - tol);
  };
  // The range on the grid's element, for the tests.
  function mark(x) {
    if (!x) return;
    grid.dataset.xMin = String(x[0]);
    grid.dataset.xMax = String(x[1]);
    grid.dataset.zoomed = String(range !== null);
  }
  function show(x, source = null) {
    if (!x) return;
    const [min, max] = x;
    syncing = true;
    try {
      for (const p of plots())
        if (p !== source && (p.scales.x.min !== min || p.scales.x.max !== max))
          p.batch(() => p.setScale('x', { min, max }));
    } finally {
      syncing = false;
    }
    mark(x);
  }
  return {
    onScale(u, key) {
      if (key !== 'x' || syncing) return;
      const { min, max } = u.scales.x;
      const now = range || shared.x;
      // A new cell's first draw, or a cell set by show(): nothing to follow.
      if (now && min === now[0] && max === now[1]) return;
      range = isFull(min, max) ? null : [min, max];
      show([min, max], u);
    },
    /** The whole extent again (a double-click in a cell). */
    reset() {
      range = null;
      show(shared.x);
      return null;
    },
    /** What a new or refilled cell shows: the zoom, or the whole extent. */
    target() {
      const e = shared.x;
      return range && e && range[0] < e[1] && range[1] > e[0] ? range : e;
    },
    mark,
  };
}

// The cells of `datas`: every card first, then one layout for the width they all share.
function buildCells(grid, datas, views, sigs, ctx) {
  const boxes = datas.map((d) => cellBox(grid, d.run, ctx.onPick));
  const width = boxes.length ? boxes[0].box.clientWidth : 0;
  return boxes.map((b, i) => cell(b, views[i], { ...ctx, width, sig: sigs[i] }));
}

// A cell's card in `grid`: the run's name (a click highlights it) over its two charts.
function cellBox(grid, run, onPick) {
  const title = el('div', { cls: 'lr-multiple-title', text: run, attrs: { title: run } });
  const lossTarget = el('div', { cls: 'lr-plot' });
  const lrTarget = el('div', { cls: 'lr-plot' });
  const box = el('section', { cls: 'lr-card lr-multiple', attrs: { 'data-run': run } }, [title, lossTarget, lrTarget]);
  title.addEventListener('click', () => onPick(run));
  grid.append(box);
  return { run, box, lossTarget, lrTarget };
}

function cell({ run, box, lossTarget, lrTarget }, view, ctx) {
  const size = { minWidth: MIN_WIDTH, width: ctx.width || null };
  const loss = managedPlot(box, lossTarget, { height: HEIGHT.loss, ...size });
  const lr = managedPlot(box, lrTarget, { height: HEIGHT.lr, ...size });
  // Each chart writes the x range it drew on its element (for the tests and the benchmark).
  const stamp = (target) => (u) => {
    target.dataset.xMin = String(u.scales.x.min);
    target.dataset.xMax = String(u.scales.x.max);
  };
  const targets = { loss: lossTarget, lr: lrTarget };
  const opts = (role) => () => {
    const hooks = { ...ctx.hooks, draw: [...ctx.hooks.draw, stamp(targets[role])] };
    return multipleOptions(role, view, { ...ctx, hooks, lossSeries: cellSeries(view) });
  };
  const tables = cellTables(view);
  if (cellSeries(view).length) loss.draw(ctx.sig, opts('loss'), tables.loss);
  if (view.lr.series.length) lr.draw(ctx.sig, opts('lr'), tables.lr);
  return {
    run,
    sig: ctx.sig,
    loss,
    lr,
    /** New data on the same series, shown over `x`: one redraw per chart. */
    refill(next, x) {
      for (const [p, data] of [
        [loss.plot, next.loss],
        [lr.plot, next.lr],
      ])
        if (p) p.batch(() => (p.setData(data, false), x && p.setScale('x', { min: x[0], max: x[1] })));
    },
  };
}

// What a cell's options depend on: a change rebuilds the cell.
function cellSignature(view, shared, themeName) {
  return JSON.stringify([
    themeName,
    view.axis,
    view.loss.log,
    Boolean(shared.loss),
    Boolean(shared.lr),
    cellSeries(view).map((s) => [s.label, s.color, s.dash]),
    view.lr.series.map((s) => [s.label, s.color, s.stepped]),
  ]);
}

// A cell's two tables, without the rows its lines do not need (compactRows).
function cellTables(view) {
  return { loss: compactRows(lossColumns(view)), lr: compactRows(view.lr.data) };
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
