// The loss chart above the learning-rate chart, x-synced. Cursor sync
// through uPlot's sync groups; zoom (drag-select, double-click to reset, or a
// range set from a table row) shared through a setScale hook, so both
// charts always show the same x range. Options: chart_options.js.

import { chartBox, drawCounter, managedPlot, steppedPaths } from './plot.js';
import { HEIGHT, cursorOptions, lossOptions, lrOptions } from './chart_options.js';

let syncCounter = 0;

/**
 * @param {HTMLElement} host where the two charts go.
 * @param {{theme: () => object, onRange?: (range: number[]|null) => void,
 *   onMarkerClick?: (marker: object) => void}} options
 */
export function createCharts(host, { theme, onRange = () => {}, onMarkerClick = null }) {
  const syncKey = `tb-lr-${++syncCounter}`;
  const { wrap, plots } = chartPair(host);
  const each = (fn) => Object.values(plots).forEach(fn);
  let view = null;
  const zoom = syncedZoom(plots, wrap, () => view, onRange);

  function context(role) {
    const hooks = {
      setScale: [(u, key) => key === 'x' && zoom.onScale(role, u)],
      draw: [drawCounter(wrap[role].box, { timed: true })],
    };
    return { theme: theme(), current: () => view, cursor: cursorOptions(syncKey), hooks };
  }

  function draw(sig, resetScales) {
    const { loss, lr } = view;
    const lossOpts = () => loss.series.length && lossOptions(view, { ...context('loss'), onMarkerClick });
    plots.loss.draw(sig, lossOpts, loss.data, resetScales);
    const lrOpts = () => lr.series.length && lrOptions(view, { ...context('lr'), stepped: steppedPaths() });
    plots.lr.draw(sig, lrOpts, lr.data, resetScales);
  }

  function build(sig) {
    each((p) => p.clear());
    wrap.loss.setEmpty(!view.loss.series.length && 'No loss recorded for the selected runs yet.');
    wrap.lr.setEmpty(!view.lr.series.length && 'No learning rate recorded for the selected runs yet.');
    draw(sig, true);
  }

  return {
    /**
     * Draws a new view. Keeps the charts (and so the cursor and any zoom)
     * when only the data changed; rebuilds them when the series, the axis or
     * the theme changed. `range` (or null) is applied afterwards.
     */
    update(nextView, range) {
      view = nextView;
      const sig = signature(view, theme().name);
      if (!plots.loss.isCurrent(sig) || !plots.lr.isCurrent(sig) || !zoom.anyPlot()) build(sig);
      // With a zoom to keep, leave the scales alone (setScale below then
      // re-ranges y for the visible x); otherwise fit the new data.
      else draw(sig, !range);
      if (range) zoom.setRange(range);
    },
    setRange: zoom.setRange,
    getRange: zoom.getRange,
    rebuild: () => each((p) => p.invalidate()),
    resize: () => each((p) => p.resize()),
    destroy() {
      each((p) => p.destroy());
      host.textContent = '';
    },
  };
}

// The two cards in `host` and a managed plot in each.
function chartPair(host) {
  const wrap = { loss: chartBox('loss', 'Loss'), lr: chartBox('lr', 'Learning rate') };
  host.append(wrap.loss.box, wrap.lr.box);
  const plots = {
    loss: managedPlot(host, wrap.loss.plot, { height: HEIGHT.loss }),
    lr: managedPlot(host, wrap.lr.plot, { height: HEIGHT.lr }),
  };
  return { wrap, plots };
}

// What the options depend on: a change rebuilds both charts.
function signature(view, themeName) {
  return JSON.stringify([
    view.axis,
    view.loss.log,
    view.loss.hasY2,
    themeName,
    view.loss.series.map((s) => [s.label, s.color, s.scale, s.alpha]),
    view.lr.series.map((s) => [s.label, s.color, s.stepped, s.alpha]),
  ]);
}

// The x range both charts show: a zoom in one is applied to the other,
// written on the chart boxes (data-x-min/max, for the tests) and reported
// to onRange (null when everything is shown).
function syncedZoom(plots, wrap, currentView, onRange) {
  let syncing = false;
  const anyPlot = () => plots.loss.plot || plots.lr.plot;
  const isFull = (min, max) => {
    const e = currentView() && currentView().extent;
    if (!e) return true;
    const tol = (e[1] - e[0]) * 1e-6;
    return min <= e[0] + tol && max >= e[1] - tol;
  };
  function onScale(role, u) {
    const { min, max } = u.scales.x;
    for (const w of Object.values(wrap)) {
      w.box.dataset.xMin = String(min);
      w.box.dataset.xMax = String(max);
    }
    if (syncing) return;
    syncing = true;
    try {
      const other = plots[role === 'loss' ? 'lr' : 'loss'].plot;
      if (other && (other.scales.x.min !== min || other.scales.x.max !== max)) other.setScale('x', { min, max });
    } finally {
      syncing = false;
    }
    onRange(isFull(min, max) ? null : [min, max]);
  }
  /** Shows x in [min, max] on both charts; null shows everything. */
  function setRange(range) {
    const p = anyPlot();
    const target = p && (range || currentView().extent);
    if (!target) return;
    let [min, max] = target;
    if (min === max) [min, max] = [min - 0.5, max + 0.5];
    p.setScale('x', { min, max });
  }
  function getRange() {
    const p = anyPlot();
    if (!p) return null;
    const { min, max } = p.scales.x;
    return isFull(min, max) ? null : [min, max];
  }
  return { onScale, setRange, getRange, anyPlot };
}
