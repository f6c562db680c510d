// The legend of the loss and LR charts: one entry per run (its colour; a
// run with several optimizers shows a swatch per optimizer), and the line
// styles explained once (solid, dashed, faint) for the kinds drawn.

import { el, onActivate } from './dom.js';

const STYLES = [
  { cls: 'solid', kinds: { actual: 'actual LR', train: 'train loss' } },
  { cls: 'dashed', kinds: { planned: 'planned LR', val: 'val loss' } },
  { cls: 'dotted', kinds: { monitor: 'monitor (right axis)' } },
  { cls: 'faint', kinds: { batch: 'batch loss' } },
];

/**
 * @param {object} view shape.buildView's.
 * @param {Map} colours shape.assignColours'.
 * @param {{runs: string[], highlight: string|null, onPick: (run: string|null) => void}} options
 */
export function chartLegend(view, colours, { runs, highlight, onPick }) {
  const kinds = new Set([...view.loss.series, ...view.lr.series].map((s) => s.kind));
  const entries = runs.map((run) => {
    const c = colours.get(run);
    const swatches = c && c.optimizer.size > 1 ? [...c.optimizer.values()] : [c ? c.run : 'transparent'];
    const item = el(
      'li',
      {
        cls: `lr-legend-run${highlight && highlight !== run ? ' lr-legend-run--dim' : ''}`,
        attrs: { tabindex: '0', 'data-run': run, title: entryTitle(view, run) },
      },
      [...swatches.map((colour) => swatch(colour)), el('span', { text: run })],
    );
    onActivate(item, () => onPick(highlight === run ? null : run));
    return item;
  });
  const key = STYLES.map((s) => {
    const names = Object.entries(s.kinds)
      .filter(([k]) => kinds.has(k))
      .map(([, name]) => name);
    return names.length
      ? el('span', { cls: 'lr-legend-style' }, [el('span', { cls: `lr-line lr-line--${s.cls}` }), names.join(' · ')])
      : null;
  });
  return el('div', { cls: 'lr-legend' }, [
    el('ul', { cls: 'lr-legend-runs' }, entries),
    el('div', { cls: 'lr-legend-key lr-muted' }, key),
  ]);
}

// The run's series, one a line (names as text: a title attribute).
function entryTitle(view, run) {
  const labels = [...view.loss.series, ...view.lr.series].filter((s) => s.run === run).map((s) => s.label);
  return [run, ...labels, 'Click: highlight this run (again: clear)'].join('\n');
}

function swatch(colour) {
  const s = el('span', { cls: 'lr-swatch' });
  s.style.background = colour;
  return s;
}
