// The two charts (loss above learning rate), x-synced, and the LR range
// test's chart (loss against LR): the only module that imports uPlot. Cursor sync through uPlot's sync groups; zoom (drag-select,
// double-click to reset, or a range set from a table row) shared through a
// setScale hook, so both charts always show the same x range.

import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';
import { bandsPlugin, floorPlugin, markersPlugin } from './plugins.js';
import { formatCompact, formatEpochX, formatLR, formatStep, formatValue } from './format.js';

export const CHART_CSS = uplotCss;

const FONT = 'Roboto, sans-serif';
const LOSS_HEIGHT = 280;
const LR_HEIGHT = 230;
const Y_AXIS_SIZE = 64;
let syncCounter = 0;

/**
 * @param {HTMLElement} host where the two charts go.
 * @param {{theme: () => object, onRange?: (range: number[]|null) => void,
 *   onMarkerClick?: (marker: object) => void}} options
 */
export function createCharts(host, { theme, onRange = () => {}, onMarkerClick = null }) {
  const syncKey = `tb-lr-${++syncCounter}`;
  const wrap = {
    loss: chartBox('loss', 'Loss'),
    lr: chartBox('lr', 'Learning rate'),
  };
  host.append(wrap.loss.box, wrap.lr.box);

  let view = null;
  let plots = { loss: null, lr: null };
  let signature = '';
  let syncing = false;

  const resizer = new ResizeObserver(() => resize());
  resizer.observe(host);

  function width() {
    return Math.max(320, Math.floor(host.clientWidth || 800));
  }

  function build() {
    destroyPlots();
    const t = theme();
    const fmtX = view.axis === 'epoch' ? formatEpochX : formatCompact;
    const xLabel = view.axis === 'epoch' ? 'epoch (end of)' : 'step';
    const axisStyle = {
      stroke: t.text,
      font: `11px ${FONT}`,
      labelFont: `12px ${FONT}`,
      grid: { stroke: t.grid, width: 1 },
      ticks: { stroke: t.grid, width: 1 },
    };
    const xAxis = { ...axisStyle, values: (u, splits) => splits.map(fmtX) };
    const xSeries = {
      label: view.axis,
      value: (u, v) => (v == null ? '–' : view.axis === 'epoch' ? formatEpochX(v) : formatStep(v)),
    };
    const rightPad = view.loss.hasY2 ? 0 : 24;
    const hooks = (role) => ({
      setScale: [(u, key) => key === 'x' && onScale(role, u)],
      // Counted and timed for the browser tests and the benchmark.
      draw: [
        () => {
          const d = wrap[role].box.dataset;
          d.draws = String(Number(d.draws || 0) + 1);
          d.drawnAt = String(performance.now());
        },
      ],
    });
    const cursor = {
      sync: { key: syncKey, filters: { pub: (type) => type !== 'mousedown' && type !== 'mouseup' } },
      drag: { x: true, y: false, setScale: true },
      focus: { prox: 24 },
    };

    wrap.loss.setEmpty(!view.loss.series.length && 'No loss recorded for the selected runs yet.');
    wrap.lr.setEmpty(!view.lr.series.length && 'No learning rate recorded for the selected runs yet.');

    if (view.loss.series.length) {
      const lossOpts = {
        width: width(),
        height: LOSS_HEIGHT,
        padding: [8, rightPad, 0, 0],
        cursor,
        focus: { alpha: 0.5 },
        legend: { live: true },
        scales: {
          x: { time: false },
          y: view.loss.log ? { distr: 3, log: 10 } : {},
          ...(view.loss.hasY2 ? { y2: {} } : {}),
        },
        axes: [
          { ...xAxis, size: 32 },
          {
            ...axisStyle,
            scale: 'y',
            size: Y_AXIS_SIZE,
            label: view.loss.log ? 'loss (log)' : 'loss',
            labelSize: 16,
            values: (u, s) => s.map((v) => (v == null ? '' : formatValue(v))),
            ...(view.loss.log
              ? {
                  filter: thinLogSplits,
                  grid: { ...axisStyle.grid, filter: thinLogSplits },
                  ticks: { ...axisStyle.ticks, filter: thinLogSplits },
                }
              : {}),
          },
          ...(view.loss.hasY2
            ? [
                {
                  ...axisStyle,
                  scale: 'y2',
                  side: 1,
                  size: Y_AXIS_SIZE,
                  grid: { show: false },
                  label: 'monitor',
                  labelSize: 16,
                  values: (u, s) => s.map((v) => (v == null ? '' : formatValue(v))),
                },
              ]
            : []),
        ],
        series: [
          xSeries,
          ...view.loss.series.map((s) => ({
            label: s.label,
            scale: s.scale,
            stroke: withAlpha(s.color, s.alpha),
            width: s.width,
            dash: s.dash || undefined,
            points: s.points ? { size: 5 } : { show: false },
            value: (u, v) => formatValue(v),
          })),
        ],
        hooks: hooks('loss'),
        plugins: [
          bandsPlugin({ getBands: () => view.bands }),
          markersPlugin({ getMarkers: () => view.markers, labels: true, onClick: onMarkerClick }),
        ],
      };
      plots.loss = new uPlot(lossOpts, view.loss.data, wrap.loss.plot);
    }

    if (view.lr.series.length) {
      const stepped = uPlot.paths.stepped({ align: 1 });
      const lrOpts = {
        width: width(),
        height: LR_HEIGHT,
        padding: [8, view.loss.hasY2 ? Y_AXIS_SIZE : rightPad, 0, 0],
        cursor,
        focus: { alpha: 0.5 },
        legend: { live: true },
        scales: { x: { time: false }, y: { distr: 3, log: 10 } },
        axes: [
          { ...xAxis, size: 44, label: xLabel, labelSize: 14 },
          {
            ...axisStyle,
            size: Y_AXIS_SIZE,
            label: 'learning rate (log)',
            labelSize: 16,
            values: (u, s) => s.map((v) => (v == null ? '' : formatLR(v, 2))),
            // uPlot puts a split at every 1..9 x 10^k: keep the labels (and
            // grid lines) that fit, decades first, then 5s, then 2s.
            filter: thinLogSplits,
            grid: { ...axisStyle.grid, filter: thinLogSplits },
            ticks: { ...axisStyle.ticks, filter: thinLogSplits },
          },
        ],
        series: [
          xSeries,
          ...view.lr.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.width,
            dash: s.dash || undefined,
            paths: s.stepped ? stepped : undefined,
            points: { show: false },
            value: (u, v) => formatLR(v),
          })),
        ],
        hooks: hooks('lr'),
        plugins: [
          bandsPlugin({ getBands: () => view.bands }),
          markersPlugin({ getMarkers: () => view.markers.filter((m) => m.kind !== 'min_lr_floor'), labels: false }),
          floorPlugin({ getFloors: () => view.floors, textColor: () => theme().muted }),
        ],
      };
      plots.lr = new uPlot(lrOpts, view.lr.data, wrap.lr.plot);
    }
  }

  function onScale(role, u) {
    const { min, max } = u.scales.x;
    for (const w of Object.values(wrap)) {
      w.box.dataset.xMin = String(min);
      w.box.dataset.xMax = String(max);
    }
    if (syncing) return;
    syncing = true;
    try {
      const other = plots[role === 'loss' ? 'lr' : 'loss'];
      if (other && (other.scales.x.min !== min || other.scales.x.max !== max)) {
        other.setScale('x', { min, max });
      }
    } finally {
      syncing = false;
    }
    onRange(isFull(min, max) ? null : [min, max]);
  }

  function isFull(min, max) {
    const e = view && view.extent;
    if (!e) return true;
    const tol = (e[1] - e[0]) * 1e-6;
    return min <= e[0] + tol && max >= e[1] - tol;
  }

  function destroyPlots() {
    for (const key of ['loss', 'lr']) {
      if (plots[key]) plots[key].destroy();
      plots[key] = null;
    }
  }

  function resize() {
    const w = width();
    if (plots.loss && plots.loss.width !== w) plots.loss.setSize({ width: w, height: LOSS_HEIGHT });
    if (plots.lr && plots.lr.width !== w) plots.lr.setSize({ width: w, height: LR_HEIGHT });
  }

  function anyPlot() {
    return plots.loss || plots.lr;
  }

  /** Shows x in [min, max] on both charts; null shows everything. */
  function setRange(range) {
    const p = anyPlot();
    if (!p) return;
    const target = range || view.extent;
    if (!target) return;
    let [min, max] = target;
    if (min === max) {
      min -= 0.5;
      max += 0.5;
    }
    p.setScale('x', { min, max });
  }

  return {
    /**
     * Draws a new view. Keeps the charts (and so the cursor and any zoom)
     * when only the data changed; rebuilds them when the series, the axis or
     * the theme changed. `range` (or null) is applied afterwards.
     */
    update(nextView, range) {
      view = nextView;
      const sig = JSON.stringify([
        view.axis,
        view.loss.log,
        view.loss.hasY2,
        theme().name,
        view.loss.series.map((s) => [s.label, s.color, s.scale]),
        view.lr.series.map((s) => [s.label, s.color, s.stepped]),
      ]);
      if (sig !== signature || !anyPlot()) {
        signature = sig;
        build();
      } else {
        // With a zoom to keep, leave the scales alone (setScale below then
        // re-ranges y for the visible x); otherwise fit the new data.
        if (plots.loss) plots.loss.setData(view.loss.data, !range);
        if (plots.lr) plots.lr.setData(view.lr.data, !range);
      }
      if (range) setRange(range);
    },
    setRange,
    getRange() {
      const p = anyPlot();
      if (!p) return null;
      const { min, max } = p.scales.x;
      return isFull(min, max) ? null : [min, max];
    },
    rebuild() {
      signature = '';
    },
    resize,
    destroy() {
      resizer.disconnect();
      destroyPlots();
      host.textContent = '';
    },
  };
}

function chartBox(role, title) {
  const box = document.createElement('section');
  box.className = 'lr-card lr-chart';
  box.dataset.role = role;
  const h = document.createElement('h2');
  h.className = 'lr-card-title';
  h.textContent = title;
  const plot = document.createElement('div');
  plot.className = 'lr-plot';
  const empty = document.createElement('p');
  empty.className = 'lr-muted lr-chart-empty';
  empty.hidden = true;
  box.append(h, plot, empty);
  return {
    box,
    plot,
    setEmpty(message) {
      empty.hidden = !message;
      empty.textContent = message || '';
      plot.hidden = Boolean(message);
    },
  };
}

/**
 * The LR range test: loss against learning rate (log x), raw loss faint and
 * smoothed solid, a labelled marker at each suggestion (shape.buildFinderView).
 * `caption` (the suggestions as text) goes between the title and the plot.
 *
 * @param {HTMLElement} host where the chart goes.
 * @param {{theme: () => object, caption?: HTMLElement}} options
 */
export function createFinderChart(host, { theme, caption = null }) {
  const wrap = chartBox('finder', 'LR range test: loss against learning rate');
  if (caption) wrap.box.insertBefore(caption, wrap.plot);
  host.append(wrap.box);
  let view = null;
  let plot = null;
  let signature = '';
  const resizer = new ResizeObserver(() => {
    if (plot && plot.width !== width()) plot.setSize({ width: width(), height: FINDER_HEIGHT });
  });
  resizer.observe(host);

  function width() {
    return Math.max(320, Math.floor(host.clientWidth || 800));
  }

  function destroyPlot() {
    if (plot) plot.destroy();
    plot = null;
  }

  function build() {
    destroyPlot();
    wrap.setEmpty(view.empty && 'The range test recorded no step.');
    if (view.empty) return;
    const t = theme();
    const axisStyle = {
      stroke: t.text,
      font: `11px ${FONT}`,
      labelFont: `12px ${FONT}`,
      grid: { stroke: t.grid, width: 1 },
      ticks: { stroke: t.grid, width: 1 },
    };
    const thinX = thinLogSplitsOn('x', MIN_X_LABEL_GAP);
    plot = new uPlot(
      {
        width: width(),
        height: FINDER_HEIGHT,
        padding: [8, 24, 0, 0],
        cursor: { drag: { x: true, y: false, setScale: true }, focus: { prox: 24 } },
        focus: { alpha: 0.5 },
        legend: { live: true },
        scales: {
          x: { time: false, distr: 3, log: 10 },
          // The loss blows up at the end of a test: keep the descent readable.
          y: view.yRange ? { range: () => view.yRange } : {},
        },
        axes: [
          {
            ...axisStyle,
            size: 44,
            label: 'learning rate (log)',
            labelSize: 14,
            values: (u, s) => s.map((v) => (v == null ? '' : formatLR(v, 2))),
            filter: thinX,
            grid: { ...axisStyle.grid, filter: thinX },
            ticks: { ...axisStyle.ticks, filter: thinX },
          },
          {
            ...axisStyle,
            size: Y_AXIS_SIZE,
            label: 'loss',
            labelSize: 16,
            values: (u, s) => s.map((v) => (v == null ? '' : formatValue(v))),
          },
        ],
        series: [
          { label: 'LR', value: (u, v) => (v == null ? '–' : formatLR(v)) },
          ...view.series.map((s) => ({
            label: s.label,
            stroke: withAlpha(s.color, s.alpha),
            width: s.width,
            points: { show: false },
            value: (u, v) => formatValue(v),
          })),
        ],
        hooks: {
          draw: [
            () => {
              const d = wrap.box.dataset;
              d.draws = String(Number(d.draws || 0) + 1);
            },
          ],
        },
        plugins: [markersPlugin({ getMarkers: () => view.markers, labels: true, rows: 2 })],
      },
      view.data,
      wrap.plot,
    );
  }

  return {
    /** Draws `nextView`; hides the chart when no selected run has a range test. */
    update(nextView) {
      view = nextView;
      host.hidden = !view.tests.length;
      if (host.hidden) {
        destroyPlot();
        signature = '';
        return;
      }
      const sig = JSON.stringify([theme().name, view.series.map((s) => [s.label, s.color])]);
      if (sig !== signature || !plot) {
        signature = sig;
        build();
      } else {
        plot.setData(view.data);
      }
    },
    rebuild() {
      signature = '';
    },
    destroy() {
      resizer.disconnect();
      destroyPlot();
      host.textContent = '';
    },
  };
}

const FINDER_HEIGHT = 260;
const MIN_LABEL_GAP = 18; // CSS px between two labels of the LR axis
const MIN_X_LABEL_GAP = 48; // CSS px between two labels of a log x axis

const thinLogSplits = thinLogSplitsOn('y', MIN_LABEL_GAP);

// uPlot puts a log split at every 1..9 x 10^k: keep the labels (and grid
// lines) that fit `gap` px apart on `scale`, decades first, then 5s, then 2s.
function thinLogSplitsOn(scale, gap) {
  return (u, splits) => thinSplits(u, splits, scale, gap);
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

function withAlpha(hex, alpha) {
  if (alpha >= 1 || !/^#[0-9a-f]{6}$/i.test(hex)) return hex;
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
