// The comparison parts of the training view: the run table above the
// charts, the run legend between them and the small-multiples grid, and
// the highlighted run they share. index.js owns the state and calls draw().

import { el } from './dom.js';
import { chartLegend } from './legend.js';
import { runRow } from './compare.js';
import { createRunTable } from './run_table.js';
import { createSmallMultiples } from './small_multiples.js';

/**
 * @param {{theme: () => object, onHighlight: (run: string|null) => void}} options
 * @returns {{tableCard: HTMLElement, legendHost: HTMLElement, gridHost: HTMLElement,
 *   draw(state): void, drawGrid(state): void, resetZoom(): void, table: object, destroy(): void}}
 */
export function createComparison({ theme, onHighlight }) {
  const table = createRunTable({ onPick: onHighlight });
  const count = el('span', { cls: 'lr-muted lr-card-note' });
  const tableCard = el('section', { cls: 'lr-card lr-runs-card' }, [
    el('h2', { cls: 'lr-card-title' }, ['Runs compared ', count]),
    table.element,
  ]);
  const legendHost = el('div', { cls: 'lr-legend-host' });
  const gridHost = el('div', { cls: 'lr-multiples-host' });
  gridHost.hidden = true;
  const grid = createSmallMultiples(gridHost, { theme, onPick: onHighlight });
  let gridKey = null;
  return {
    tableCard,
    legendHost,
    gridHost,
    table,
    /**
     * @param {{runs: object[], datas: object[], view: object, colours: Map,
     *   highlight: string|null, filter: string}} s `runs`: the selected runs' entries of `runs`.
     */
    draw({ runs, datas, view, colours, highlight, filter }) {
      const byRun = new Map(datas.map((d) => [d.run, d]));
      const rows = runs.map((r) => runRow(r, byRun.get(r.run) || null));
      table.update(rows, { colours, highlight, filter });
      count.textContent = `${rows.length} run${rows.length === 1 ? '' : 's'} · click a row to highlight it`;
      tableCard.hidden = rows.length < 2;
      legendHost.textContent = '';
      legendHost.append(chartLegend(view, colours, { runs: datas.map((d) => d.run), highlight, onPick: onHighlight }));
    },
    /** The grid, redrawn only when the runs, their data, the axis or the theme changed. */
    drawGrid({ on, datas, axis, lossLog, colours }) {
      gridHost.hidden = !on;
      if (!on) {
        if (gridKey !== null) grid.clear();
        gridKey = null;
        return;
      }
      const key = [axis, lossLog, theme().name, ...datas.map((d) => d.run)].join('\u0000');
      if (key === gridKey && datas.every((d, i) => d === this.lastDatas[i])) return;
      gridKey = key;
      this.lastDatas = datas;
      grid.update(datas, { axis, lossLog, colours });
    },
    /** The grid's whole x extent again (its zoom is kept across refreshes until then). */
    resetZoom: () => grid.resetZoom(),
    destroy: () => grid.clear(),
  };
}
