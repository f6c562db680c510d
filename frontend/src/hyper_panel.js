// The hyperparameters a source logs beside the LR (Lightning's momentum,
// which is Adam's betas[0], and weight decay): one small line per series
// under the LR chart, with its first and last value. Drawn as inline SVG;
// text goes in through textContent only.

import { el } from './dom.js';
import { formatLR, formatStep } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 160;
const HEIGHT = 28;

/** The points of a polyline through `step`/`value`, scaled into the box. */
export function sparkPoints(step, value, width = WIDTH, height = HEIGHT) {
  const pts = step.map((s, i) => [s, value[i]]).filter(([s, v]) => Number.isFinite(s) && Number.isFinite(v));
  if (!pts.length) return '';
  const [x0, x1] = [pts[0][0], pts[pts.length - 1][0]];
  const ys = pts.map((p) => p[1]);
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => (x1 > x0 ? ((x - x0) / (x1 - x0)) * (width - 2) + 1 : width / 2);
  const sy = (y) => (y1 > y0 ? height - 1 - ((y - y0) / (y1 - y0)) * (height - 2) : height / 2);
  return pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
}

function spark(h) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', String(WIDTH));
  svg.setAttribute('height', String(HEIGHT));
  svg.setAttribute('class', 'lr-hyper-spark');
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', sparkPoints(h.step, h.value));
  svg.append(line);
  return svg;
}

/**
 * The panel, or null when no selected run logged a hyperparameter.
 *
 * @param {{run: string, hyper: {name, param, step: number[], value: number[]}[]}[]} perRun
 * @param {{showRun: boolean}} options
 */
export function hyperPanel(perRun, { showRun }) {
  const items = perRun.flatMap((r) => r.hyper.map((h) => ({ ...h, run: r.run })));
  if (!items.length) return null;
  return el(
    'div',
    { cls: 'lr-hyper' },
    items.map((h) => {
      const first = h.value[0];
      const last = h.value[h.value.length - 1];
      const label = `${showRun ? `${h.run}: ` : ''}${h.name} ${h.param}`;
      const range = `${formatLR(first)} → ${formatLR(last)} (${formatStep(h.step.length)} points)`;
      return el('div', { cls: 'lr-hyper-item', attrs: { 'data-param': h.param } }, [
        el('span', { cls: 'lr-hyper-label', text: label }),
        spark(h),
        el('span', { cls: 'lr-muted', text: range }),
      ]);
    }),
  );
}
