// The LR range test's chart: loss against learning rate (log x), raw loss
// faint and smoothed solid, a labelled marker at each suggestion
// (shape.buildFinderView). Options: chart_options.finderOptions.

import { chartBox, drawCounter, managedPlot } from './plot.js';
import { HEIGHT, finderOptions } from './chart_options.js';

/**
 * `caption` (the suggestions as text) goes between the title and the plot.
 *
 * @param {HTMLElement} host where the chart goes.
 * @param {{theme: () => object, caption?: HTMLElement}} options
 */
export function createFinderChart(host, { theme, caption = null }) {
  const wrap = chartBox('finder', 'LR range test: loss against learning rate');
  if (caption) wrap.box.insertBefore(caption, wrap.plot);
  host.append(wrap.box);
  const plot = managedPlot(host, wrap.plot, { height: HEIGHT.finder });
  const hooks = { draw: [drawCounter(wrap.box)] };
  let view = null;

  function options() {
    wrap.setEmpty(view.empty && 'The range test recorded no step.');
    return !view.empty && finderOptions(view, { theme: theme(), current: () => view, hooks });
  }

  return {
    /** Draws `nextView`; hides the chart when no selected run has a range test. */
    update(nextView) {
      view = nextView;
      host.hidden = !view.tests.length;
      if (host.hidden) {
        plot.clear();
        return;
      }
      const sig = JSON.stringify([theme().name, view.series.map((s) => [s.label, s.color])]);
      plot.draw(sig, options, view.data);
    },
    rebuild: plot.invalidate,
    destroy() {
      plot.destroy();
      host.textContent = '';
    },
  };
}
