// uPlot plugins: plateau markers, cooldown bands and the min_lr floor.
// Each is a factory with defaulted options returning {hooks} (uPlot's plugin
// shape, as in its annotations demo); none imports the library itself.

import { LABEL_ROWS, groupMarkers, placeLabels } from './label_layout.js';

const dpr = () => (typeof devicePixelRatio === 'number' && devicePixelRatio > 0 ? devicePixelRatio : 1);

/**
 * Vertical markers (one DOM element each, in the plot's overlay so they can
 * carry a tooltip and be counted): a line at the event's x and, with
 * `labels`, a label "old → new LR" per marker, placed by
 * label_layout.placeLabels (rows, then a dot with the text on hover).
 * Markers at the same x (runs reducing at the same step) share one line.
 *
 * @param {{getMarkers: () => object[], labels?: boolean | (() => boolean),
 *   onClick?: (m) => void, rows?: number}} opts
 */
export function markersPlugin({ getMarkers, labels = true, onClick = null, rows = LABEL_ROWS } = {}) {
  let layer = null;
  function place(u) {
    if (!layer) {
      layer = document.createElement('div');
      layer.className = 'lr-markers';
      u.over.appendChild(layer);
    }
    layer.textContent = '';
    const { min, max } = u.scales.x;
    if (min == null || max == null) return;
    const groups = groupMarkers(getMarkers().filter((m) => m.x >= min && m.x <= max));
    const withLabels = typeof labels === 'function' ? labels() : labels;
    const pending = [];
    for (const g of groups) {
      const left = Math.round(u.valToPos(g.x, 'x'));
      const line = markerLine(g, left);
      layer.appendChild(line);
      for (const m of g.markers) {
        if (withLabels && m.label && !m.dim) pending.push({ m, left, label: markerLabel(m, onClick) });
      }
      if (!withLabels || !pending.length || pending[pending.length - 1].left !== left) line.title = titleOf(g);
    }
    for (const p of pending) layer.appendChild(p.label);
    // One layout for all the widths, then the placement.
    const widths = pending.map((p) => p.label.offsetWidth);
    const spots = placeLabels(
      pending.map((p, i) => ({ anchor: p.left, width: widths[i] })),
      { rows, right: u.over.clientWidth || Infinity },
    );
    spots.forEach((s, i) => positionLabel(pending[i].label, s));
    u.root.dataset.markers = String(groups.reduce((n, g) => n + g.markers.length, 0));
    u.root.dataset.labels = String(spots.filter((s) => s.mode === 'full').length);
  }
  return { hooks: { draw: [place], destroy: [() => (layer = null)] } };
}

function markerLine(g, left) {
  const m = g.markers[0];
  const line = document.createElement('div');
  line.className = `lr-marker lr-marker--${m.kind}`;
  if (g.markers.every((x) => x.dim)) line.classList.add('lr-marker--dim');
  line.dataset.kind = m.kind;
  line.dataset.runs = String(new Set(g.markers.map((x) => x.run)).size);
  line.dataset.count = String(g.markers.length);
  line.style.left = `${left}px`;
  line.style.borderLeftColor = (g.markers.find((x) => !x.dim) || m).color;
  return line;
}

function markerLabel(m, onClick) {
  const label = document.createElement('div');
  label.className = 'lr-marker-label';
  label.textContent = m.label;
  label.title = m.title;
  label.style.borderColor = m.color;
  label.dataset.run = m.run;
  if (onClick) label.addEventListener('click', () => onClick(m));
  return label;
}

function positionLabel(label, spot) {
  if (spot.mode === 'none') {
    label.remove();
    return;
  }
  label.style.left = `${spot.start}px`;
  label.style.top = `${2 + spot.row * 18}px`;
  if (spot.mode === 'dot') {
    label.classList.add('lr-marker-dot');
    label.dataset.text = label.textContent;
    label.textContent = '';
    label.style.background = label.style.borderColor;
    label.title = `${label.dataset.text}\n${label.title}`;
  }
}

function titleOf(g) {
  return g.markers.map((m) => m.title).join('\n\n');
}

/**
 * Shaded x ranges (cooldown periods) drawn under the grid and the series.
 *
 * @param {{getBands: () => {from: number, to: number, color: string}[], alpha?: number}} opts
 */
export function bandsPlugin({ getBands, alpha = 0.12 } = {}) {
  function draw(u) {
    const bands = getBands();
    if (!bands.length) return;
    inPlotArea(u, (ctx, { top, height }) => {
      ctx.globalAlpha = alpha;
      for (const b of bands) {
        const x0 = u.valToPos(b.from, 'x', true);
        const x1 = u.valToPos(b.to, 'x', true);
        if (!Number.isFinite(x0) || !Number.isFinite(x1)) continue;
        ctx.fillStyle = b.color;
        ctx.fillRect(Math.min(x0, x1), top, Math.max(Math.abs(x1 - x0), 2 * dpr()), height);
      }
    });
    u.root.dataset.bands = String(bands.length);
  }
  return { hooks: { drawClear: [draw] } };
}

/**
 * Horizontal dashed lines on the LR chart where a run's LR hit `min_lr`:
 * from the first time it did to the right edge, labelled "min_lr 1e-6".
 *
 * @param {{getFloors: () => {y: number, fromX: number, color: string, label: string}[],
 *   scale?: string, font?: string, textColor?: () => string}} opts
 */
export function floorPlugin({ getFloors, scale = 'y', font = 'Roboto, sans-serif', textColor = () => '#616161' } = {}) {
  function draw(u) {
    const floors = getFloors();
    if (!floors.length) return;
    const r = dpr();
    inPlotArea(u, (ctx, { left, top, width, height }) => {
      ctx.lineWidth = 1.5 * r;
      ctx.setLineDash([3 * r, 3 * r]);
      ctx.font = `${Math.round(11 * r)}px ${font}`;
      ctx.textBaseline = 'bottom';
      for (const f of floors) drawFloor(u, ctx, f, { left, top, width, height, r, scale, textColor });
    });
    u.root.dataset.floors = String(floors.length);
  }
  return { hooks: { draw: [draw] } };
}

function drawFloor(u, ctx, f, { left, top, width, height, r, scale, textColor }) {
  const y = u.valToPos(f.y, scale, true);
  if (!Number.isFinite(y) || y < top - 1 || y > top + height + 1) return;
  const x0 = Math.max(left, u.valToPos(f.fromX, 'x', true));
  if (x0 > left + width) return;
  ctx.strokeStyle = f.color;
  ctx.beginPath();
  ctx.moveTo(x0, y);
  ctx.lineTo(left + width, y);
  ctx.stroke();
  ctx.fillStyle = textColor();
  ctx.textAlign = 'right';
  ctx.fillText(f.label, left + width - 4 * r, y - 2 * r);
}

// Runs draw(ctx, bbox) with the canvas clipped to the plotting area (canvas px).
function inPlotArea(u, draw) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  try {
    draw(ctx, u.bbox);
  } finally {
    ctx.restore();
  }
}

/**
 * The values under the cursor in a small box next to it (instead of a
 * legend that grows with every run): the x, then the series closest to the
 * cursor's height, at most `max` of them, faint series left out.
 *
 * @param {{formatX: (x: number) => string, max?: number}} opts
 */
export function tooltipPlugin({ formatX, max = 8 } = {}) {
  let box = null;
  let placing = null;
  function show(u) {
    const { idx, left, top } = u.cursor;
    if (!box) {
      box = document.createElement('div');
      box.className = 'lr-tooltip';
      u.over.appendChild(box);
    }
    if (idx == null || left == null || left < 0) {
      // Every chart of a zoomed grid comes here: touch the DOM only to hide.
      if (!box.hidden) box.hidden = true;
      return;
    }
    const rows = tooltipRows(u, idx, top);
    box.textContent = '';
    box.append(tooltipLine(null, formatX(u.data[0][idx]), 'lr-tooltip-x'));
    for (const r of rows.slice(0, max)) box.append(tooltipLine(r.color, `${r.label}  ${r.text}`));
    if (rows.length > max) box.append(tooltipLine(null, `+${rows.length - max} more`, 'lr-muted'));
    box.hidden = false;
    // Placed at the next frame: measuring the box now would force a layout
    // of the page in the middle of a zoom's redraws (a grid has 100 charts).
    if (!placing) requestAnimationFrame(() => place(u));
    placing = { left, top };
  }
  function place(u) {
    const { left, top } = placing;
    placing = null;
    if (!box || box.hidden) return;
    const w = u.over.clientWidth;
    const flip = left + 16 + box.offsetWidth > w;
    box.style.left = `${flip ? Math.max(0, left - 12 - box.offsetWidth) : left + 12}px`;
    box.style.top = `${Math.max(0, Math.min(top + 12, u.over.clientHeight - box.offsetHeight))}px`;
  }
  return { hooks: { setCursor: [show], destroy: [() => (box = null)] } };
}

// The series with a value at (or, for a run with other x values, just
// before) `idx`, nearest the cursor's height first.
function tooltipRows(u, idx, top) {
  const rows = [];
  for (let i = 1; i < u.series.length; i++) {
    const s = u.series[i];
    if (!s.show || s.dimmed) continue;
    let j = idx;
    const col = u.data[i];
    while (j > 0 && j > idx - 64 && col[j] === undefined) j--;
    const v = col[j];
    if (v == null) continue;
    const y = u.valToPos(v, s.scale);
    const text = typeof s.value === 'function' ? s.value(u, v, i, j) : String(v);
    rows.push({ color: s.swatch || s._stroke, label: s.label, text, dist: Math.abs(y - top) });
  }
  return rows.sort((a, b) => a.dist - b.dist);
}

function tooltipLine(color, text, cls) {
  const line = document.createElement('div');
  if (cls) line.className = cls;
  if (color) {
    const sw = document.createElement('span');
    sw.className = 'lr-tooltip-swatch';
    sw.style.background = typeof color === 'function' ? '' : color;
    line.append(sw);
  }
  line.append(document.createTextNode(text));
  return line;
}
