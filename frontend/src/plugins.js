// uPlot plugins: plateau markers, cooldown bands and the min_lr floor.
// Each is a factory with defaulted options returning {hooks} (uPlot's plugin
// shape, as in its annotations demo); none imports the library itself.

const dpr = () => (typeof devicePixelRatio === 'number' && devicePixelRatio > 0 ? devicePixelRatio : 1);

/**
 * Vertical markers (one DOM element each, in the plot's overlay so they can
 * carry a tooltip and be counted): a line at the event's x and, with
 * `labels`, a label "old → new LR" stacked to avoid overlaps.
 *
 * @param {{getMarkers: () => object[], labels?: boolean, onClick?: (m) => void,
 *   rows?: number}} opts
 */
export function markersPlugin({ getMarkers, labels = true, onClick = null, rows = 3 } = {}) {
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
    const lastRight = new Array(rows).fill(-Infinity);
    let shown = 0;
    for (const m of getMarkers()) {
      if (m.x < min || m.x > max) continue;
      const left = Math.round(u.valToPos(m.x, 'x'));
      const line = document.createElement('div');
      line.className = `lr-marker lr-marker--${m.kind}`;
      line.dataset.kind = m.kind;
      line.style.left = `${left}px`;
      line.style.borderLeftColor = m.color;
      if (labels && m.label) {
        const label = document.createElement('div');
        label.className = 'lr-marker-label';
        label.textContent = m.label;
        label.title = m.title;
        label.style.borderColor = m.color;
        // Estimate the width (monospace-ish digits at 11px) to stack labels.
        const width = 7 * m.label.length + 10;
        let row = lastRight.findIndex((r) => r + 4 < left);
        if (row < 0) row = lastRight.indexOf(Math.min(...lastRight));
        lastRight[row] = left + width;
        label.style.top = `${2 + row * 18}px`;
        if (onClick) label.addEventListener('click', () => onClick(m));
        line.appendChild(label);
      } else {
        line.title = m.title;
      }
      layer.appendChild(line);
      shown++;
    }
    u.root.dataset.markers = String(shown);
  }
  return { hooks: { draw: [place], destroy: [() => (layer = null)] } };
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
