// The charts' uPlot options, as data: module-level defaults (in the style of
// uPlot's own src/opts.js) and pure builders that merge a view into them.
// No DOM and no uPlot import, so the options are unit-tested with node; the
// plugins are only called at draw time.

import { bandsPlugin, floorPlugin, markersPlugin, tooltipPlugin } from './plugins.js';
import { formatCompact, formatEpochX, formatLR, formatStep, formatValue } from './format.js';

export const FONT = 'Roboto, sans-serif';
export const HEIGHT = { loss: 280, lr: 230, finder: 260 };
export const Y_AXIS_SIZE = 64;
const RIGHT_PAD = 24; // room for the last x label when there is no right axis
const MIN_LABEL_GAP = 18; // CSS px between two labels of a log y axis
const MIN_X_LABEL_GAP = 48; // CSS px between two labels of a log x axis

/** What every chart shares; the theme's colours are added by axisStyle. */
export const PLOT_BASE = Object.freeze({
  focus: { alpha: 0.5 },
  legend: { live: true },
});

const AXIS_BASE = Object.freeze({
  font: `11px ${FONT}`,
  labelFont: `12px ${FONT}`,
  grid: { width: 1 },
  ticks: { width: 1 },
});

// The loss and LR charts: one legend entry per run above them (legend.js)
// and the values under the cursor in a tooltip (plugins.tooltipPlugin).
const NO_LEGEND = Object.freeze({ show: false });
const DRAG = { x: true, y: false, setScale: true };
const FOCUS = { prox: 24 };
const LOG10 = { distr: 3, log: 10 };

/** The axis style in the theme's colours. */
export function axisStyle(theme) {
  return {
    ...AXIS_BASE,
    stroke: theme.text,
    grid: { ...AXIS_BASE.grid, stroke: theme.grid },
    ticks: { ...AXIS_BASE.ticks, stroke: theme.grid },
  };
}

/** Tick labels through `fmt` (uPlot passes null for a split it drops). */
export function tickValues(fmt) {
  return (u, splits) => splits.map((v) => (v == null ? '' : fmt(v)));
}

/**
 * A log axis: uPlot puts a split at every 1..9 x 10^k; keep the labels (and
 * their grid lines and ticks) that fit, decades first, then 5s, then 2s.
 */
export function logAxis(axis, scale = 'y', gap = MIN_LABEL_GAP) {
  // uPlot filters the same splits three times a draw (labels, grid, ticks),
  // and a zoom in x leaves a y axis as it was: thin once per chart and range.
  const last = new WeakMap();
  const filter = (u, splits) => {
    const sc = u.scales[scale];
    const key = `${sc.min} ${sc.max} ${u.bbox.width} ${u.bbox.height} ${splits.join(' ')}`;
    const memo = last.get(u);
    if (memo && memo.key === key) return memo.out;
    const out = thinSplits(u, splits, scale, gap);
    last.set(u, { key, out });
    return out;
  };
  return { ...axis, filter, grid: { ...axis.grid, filter }, ticks: { ...axis.ticks, filter } };
}

/** The cursor of a chart; with `syncKey`, shared with the other charts of that key. */
export function cursorOptions(syncKey = null) {
  if (!syncKey) return { drag: DRAG, focus: FOCUS };
  // A drag in one chart zooms both through setScale, not through the cursor.
  const pub = (type) => type !== 'mousedown' && type !== 'mouseup';
  return { sync: { key: syncKey, filters: { pub } }, drag: DRAG, focus: FOCUS };
}

/**
 * The loss chart's options (view: shape.buildView's).
 *
 * @param {object} view the view to draw now.
 * @param {{theme: object, current: () => object, cursor: object, hooks: object,
 *   onMarkerClick?: Function}} ctx `current()` is the latest view, read at draw time.
 */
export function lossOptions(view, { theme, current, cursor, hooks, onMarkerClick = null }) {
  const style = axisStyle(theme);
  const { log, hasY2 } = view.loss;
  const y = { ...style, scale: 'y', size: Y_AXIS_SIZE, label: log ? 'loss (log)' : 'loss', labelSize: 16 };
  y.values = tickValues(formatValue);
  const y2 = { ...style, scale: 'y2', side: 1, size: Y_AXIS_SIZE, grid: { show: false }, label: 'monitor' };
  return {
    ...PLOT_BASE,
    legend: NO_LEGEND,
    padding: [8, hasY2 ? 0 : RIGHT_PAD, 0, 0],
    cursor,
    scales: { x: { time: false }, y: log ? LOG10 : {}, ...(hasY2 ? { y2: {} } : {}) },
    axes: [
      { ...xAxis(view, style), size: 32 },
      log ? logAxis(y) : y,
      ...(hasY2 ? [{ ...y2, labelSize: 16, values: tickValues(formatValue) }] : []),
    ],
    series: [
      xSeries(view.axis),
      ...view.loss.series.map((s) => ({
        ...lineSeries(s),
        scale: s.scale,
        points: s.points ? { size: 5 } : { show: false },
        value: (u, v) => formatValue(v),
      })),
    ],
    hooks,
    plugins: [
      bandsPlugin({ getBands: () => current().bands }),
      markersPlugin({
        getMarkers: () => current().markers,
        labels: () => current().markerLabels,
        onClick: onMarkerClick,
      }),
      tooltipPlugin({ formatX: xFormat(view.axis) }),
    ],
  };
}

/**
 * The learning-rate chart's options (log y, stepped lines when every step was sent).
 *
 * @param {object} view the view to draw now.
 * @param {{theme: object, current: () => object, cursor: object, hooks: object,
 *   stepped: Function}} ctx `stepped` is uPlot's stepped path builder.
 */
export function lrOptions(view, { theme, current, cursor, hooks, stepped }) {
  const style = axisStyle(theme);
  const right = view.loss.hasY2 ? Y_AXIS_SIZE : RIGHT_PAD; // x aligned with the loss chart's
  const xLabel = view.axis === 'epoch' ? 'epoch (end of)' : 'step';
  const y = { ...style, size: Y_AXIS_SIZE, label: 'learning rate (log)', labelSize: 16 };
  return {
    ...PLOT_BASE,
    legend: NO_LEGEND,
    padding: [8, right, 0, 0],
    cursor,
    scales: { x: { time: false }, y: LOG10 },
    axes: [
      { ...xAxis(view, style), size: 44, label: xLabel, labelSize: 14 },
      logAxis({ ...y, values: tickValues((v) => formatLR(v, 2)) }),
    ],
    series: [
      xSeries(view.axis),
      ...view.lr.series.map((s) => ({
        ...lineSeries(s),
        paths: s.stepped ? stepped : undefined,
        points: { show: false },
        value: (u, v) => formatLR(v),
      })),
    ],
    hooks,
    plugins: [
      bandsPlugin({ getBands: () => current().bands }),
      markersPlugin({ getMarkers: () => current().markers.filter((m) => m.kind !== 'min_lr_floor'), labels: false }),
      floorPlugin({ getFloors: () => current().floors, textColor: () => theme.muted }),
      tooltipPlugin({ formatX: xFormat(view.axis) }),
    ],
  };
}

/**
 * The LR range test's options: loss against LR (log x), view from shape.buildFinderView.
 *
 * @param {object} view the view to draw now.
 * @param {{theme: object, current: () => object, hooks: object}} ctx
 */
export function finderOptions(view, { theme, current, hooks }) {
  const style = axisStyle(theme);
  const x = { ...style, size: 44, label: 'learning rate (log)', labelSize: 14 };
  return {
    ...PLOT_BASE,
    padding: [8, RIGHT_PAD, 0, 0],
    cursor: cursorOptions(),
    scales: {
      x: { time: false, ...LOG10 },
      // The loss blows up at the end of a test: keep the descent readable.
      y: view.yRange ? { range: () => view.yRange } : {},
    },
    axes: [
      logAxis({ ...x, values: tickValues((v) => formatLR(v, 2)) }, 'x', MIN_X_LABEL_GAP),
      { ...style, size: Y_AXIS_SIZE, label: 'loss', labelSize: 16, values: tickValues(formatValue) },
    ],
    series: [
      { label: 'LR', value: (u, v) => (v == null ? '–' : formatLR(v)) },
      ...view.series.map((s) => ({ ...lineSeries(s), points: { show: false }, value: (u, v) => formatValue(v) })),
    ],
    hooks,
    plugins: [markersPlugin({ getMarkers: () => current().markers, labels: true, rows: 2 })],
  };
}

function xAxis(view, style) {
  const fmt = view.axis === 'epoch' ? formatEpochX : formatCompact;
  return { ...style, values: (u, splits) => splits.map(fmt) };
}

function xFormat(axis) {
  const fmt = axis === 'epoch' ? formatEpochX : formatStep;
  return (v) => (v == null ? '–' : `${axis} ${fmt(v)}`);
}

function xSeries(axis) {
  const fmt = axis === 'epoch' ? formatEpochX : formatStep;
  return { label: axis, value: (u, v) => (v == null ? '–' : fmt(v)) };
}

function lineSeries(s) {
  const stroke = withAlpha(s.color, s.alpha ?? 1);
  // `swatch` and `dimmed`: for the tooltip (uPlot keeps extra keys on its series).
  return { label: s.label, stroke, width: s.width, dash: s.dash || undefined, swatch: s.color, dimmed: !!s.dimmed };
}

function thinSplits(u, splits, scale, gap) {
  const rank = (v) => {
    const m = Math.round(v / 10 ** Math.floor(Math.log10(v) + 1e-9));
    return m === 1 ? 0 : m === 5 ? 1 : m === 2 ? 2 : 3;
  };
  const order = splits
    .map((v, i) => [v, i])
    .filter(([v]) => v > 0)
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]);
  const kept = [];
  const out = splits.map(() => null);
  for (const [v, i] of order) {
    const y = u.valToPos(v, scale);
    if (kept.every((k) => Math.abs(k - y) >= gap)) {
      kept.push(y);
      out[i] = v;
    }
  }
  return out;
}

/** `#rrggbb` at `alpha` as rgba(); anything else (or alpha 1) unchanged. */
export function withAlpha(hex, alpha) {
  if (alpha >= 1 || !/^#[0-9a-f]{6}$/i.test(hex)) return hex;
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/**
 * One small chart of the small-multiples grid (`role` 'loss' or 'lr'): a
 * run's series on the axes every cell shares (`ranges`: {x, loss, lr}),
 * no legend, the values in the tooltip.
 *
 * @param {'loss'|'lr'} role
 * @param {object} view shape.buildView's for the one run.
 * @param {{theme: object, ranges: object, x: number[]|null, hooks: object, cursor: object,
 *   stepped: Function, lossSeries: object[]}} ctx `ranges` is read at draw time (a refresh
 *   updates it in place); `x`: the x range to start at; `lossSeries`: the loss series the cell draws.
 */
export function multipleOptions(role, view, { theme, ranges, x, hooks, cursor, stepped, lossSeries }) {
  const style = { ...axisStyle(theme), font: `10px ${FONT}` };
  const lr = role === 'lr';
  const series = lr ? view.lr.series : lossSeries;
  const yLog = lr || view.loss.log;
  const fmtY = lr ? (v) => formatLR(v, 1) : formatValue;
  const key = lr ? 'lr' : 'loss';
  const y = { ...style, size: 44, values: tickValues(fmtY), ticks: { show: false } };
  // x set by the grid only (every cell on the same range, new data or not).
  const xScale = { time: false, auto: false, ...(x ? { min: x[0], max: x[1] } : {}) };
  return {
    ...PLOT_BASE,
    legend: NO_LEGEND,
    padding: [4, 8, 0, 0],
    cursor,
    scales: { x: xScale, y: { ...(yLog ? LOG10 : {}), ...(ranges[key] ? { range: () => ranges[key] } : {}) } },
    axes: [
      { ...xAxis(view, style), size: lr ? 22 : 0, show: lr, ticks: { show: false } },
      yLog ? logAxis(y, 'y', 14) : y,
    ],
    series: [
      xSeries(view.axis),
      ...series.map((s) => ({
        ...lineSeries(s),
        paths: lr && s.stepped ? stepped : undefined,
        points: { show: false },
        value: (u, v) => (lr ? formatLR(v) : formatValue(v)),
      })),
    ],
    hooks,
    plugins: [tooltipPlugin({ formatX: xFormat(view.axis), max: 4 })],
  };
}
