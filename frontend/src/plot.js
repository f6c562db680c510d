// One uPlot chart kept in a card: the only module that imports uPlot. A
// managed plot follows its host's width and is rebuilt only when what its
// options depend on (its signature) changes; otherwise new data is set in
// place, which keeps the cursor and any zoom.

import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';

export const CHART_CSS = uplotCss;
const MIN_WIDTH = 320;

/** uPlot's stepped path builder: a point's value holds until the next one. */
export function steppedPaths() {
  return uPlot.paths.stepped({ align: 1 });
}

/**
 * A plot in `target` sized to `host`'s width.
 *
 * @param {HTMLElement} host whose width the plot follows.
 * @param {HTMLElement} target where uPlot draws.
 * @param {{height: number, minWidth?: number, width?: number}} options `width`: the
 *   host's width if the caller measured it (the first plot is built at it without
 *   reading the layout; many plots built at once then cost one layout, not one each).
 * @returns {{plot: object|null, isCurrent(sig: string): boolean,
 *   draw(sig: string, options: () => object|null, data: Array, resetScales?: boolean): void,
 *   clear(): void, invalidate(): void, resize(): void, destroy(): void}}
 */
export function managedPlot(host, target, { height, minWidth = MIN_WIDTH, width: known = null }) {
  let plot = null;
  let signature = '';
  let measured = known;
  const width = () => Math.max(minWidth, Math.floor(measured ?? (host.clientWidth || 800)));
  const resize = () => {
    if (plot && plot.width !== width()) plot.setSize({ width: width(), height });
  };
  const resizer = new ResizeObserver(resize);
  resizer.observe(host);
  const clear = () => {
    if (plot) plot.destroy();
    plot = null;
    signature = '';
  };
  return {
    get plot() {
      return plot;
    },
    /** Whether `sig` is what was last drawn (a null `options()` counts as drawn). */
    isCurrent(sig) {
      return sig === signature;
    },
    /**
     * Builds the plot from `options()` when `sig` changed, or sets `data` on
     * the one there (with `resetScales` false, the x zoom is kept).
     */
    draw(sig, options, data, resetScales = true) {
      if (sig === signature && plot) {
        plot.setData(data, resetScales);
        return;
      }
      clear();
      signature = sig;
      const opts = options();
      if (opts) plot = new uPlot({ width: width(), height, ...opts }, data, target);
      measured = null;
    },
    clear,
    invalidate() {
      signature = '';
    },
    resize,
    destroy() {
      resizer.disconnect();
      clear();
    },
  };
}

/** A draw hook that counts draws on `box` (and times the last one) for the tests and the benchmark. */
export function drawCounter(box, { timed = false } = {}) {
  return () => {
    const d = box.dataset;
    d.draws = String(Number(d.draws || 0) + 1);
    if (timed) d.drawnAt = String(performance.now());
  };
}

/** A chart card: a title, the plot and the message shown instead of it when there is nothing to draw. */
export function chartBox(role, title) {
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
