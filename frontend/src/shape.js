// From parsed route data to what the two charts draw: aligned columns,
// series styles, markers, cooldown bands and min_lr floors, on the step or
// the epoch axis. Pure (no DOM, no chart library), unit-tested with node.

import { epochX, makeEpochMap, mapAll } from './axis.js';
import { alignColumns } from './data.js';
import { labelsWanted } from './label_layout.js';
import {
  formatDownsampling,
  formatEpoch,
  formatLR,
  formatLRChange,
  formatStep,
  formatValue,
  formatWaitPhrase,
} from './format.js';

// TensorBoard's colour-blind-assist run palette (tf_color_scale/palettes.ts).
export const PALETTE = ['#ff7043', '#0077bb', '#cc3311', '#33bbee', '#ee3377', '#009988', '#bbbbbb'];

/**
 * Colours: one per (run, optimizer) pair, in order; a run's loss takes the
 * colour of its first optimizer, so one run with one optimizer is all orange.
 */
export function assignColours(runDatas) {
  const byRun = new Map();
  let k = 0;
  for (const d of runDatas) {
    const names = d.lr.optimizers.map((o) => o.name);
    const opt = new Map();
    const runColour = PALETTE[k % PALETTE.length];
    if (!names.length) k++;
    for (const name of names) opt.set(name, PALETTE[k++ % PALETTE.length]);
    byRun.set(d.run, { run: runColour, optimizer: opt });
  }
  return byRun;
}

const LOSS_NAME = /(^|_)loss$/;
const MAX_THINNED_NOTES = 3;

/**
 * Builds both charts' data for the selected runs.
 *
 * @param {object[]} runDatas what `client.runData()` returned, per run, in order.
 * @param {{axis?: 'step'|'epoch', lossLog?: boolean}} options
 */
export function buildView(runDatas, { axis = 'step', lossLog = false, highlight = null } = {}) {
  const colours = assignColours(runDatas);
  const multi = runDatas.length > 1;
  const acc = { notes: [], lossTables: [], lossSeries: [], lrTables: [], lrSeries: [], markers: [], bands: [] };
  Object.assign(acc, { floors: [], hasY2: false, epochLens: [], thinned: [] });
  for (const d of runDatas) {
    const run = runAxis(d, axis, acc);
    if (!run) continue;
    const ctx = { ...run, axis, lossLog, multi, colour: colours.get(d.run), single: runDatas.length === 1 };
    addLossSeries(acc, d, ctx);
    addLrSeries(acc, d, ctx);
    addEventMarks(acc, d, ctx);
  }
  const view = finishView(acc, axis, lossLog);
  return highlight ? dimOthers(view, highlight) : view;
}

// DIM: what is left of a series or marker of a run other than the highlighted one.
export const DIM = 0.15;

// The highlighted run as drawn, every other run faint (its markers unlabelled).
function dimOthers(view, run) {
  if (!view.loss.series.concat(view.lr.series).some((s) => s.run === run)) return view;
  const dim = (s) => (s.run === run ? s : { ...s, alpha: (s.alpha ?? 1) * DIM, dimmed: true });
  view.loss.series = view.loss.series.map(dim);
  view.lr.series = view.lr.series.map(dim);
  view.markers = view.markers.map((m) => (m.run === run ? m : { ...m, dim: true }));
  view.bands = view.bands.filter((b) => b.run === run);
  view.floors = view.floors.filter((f) => f.run === run);
  view.highlight = run;
  return view;
}

// How a run's steps map to the drawn axis ({map, xOfStep}), or null when
// the run is not drawn on it; says why in a note.
function runAxis(d, axis, acc) {
  const map = makeEpochMap(d.epochs);
  // A run with nothing to draw here (only an LR range test) gets no note.
  const hasSeries = d.lr.optimizers.length > 0 || d.loss.series.length > 0;
  if (axis === 'step' && d.axis === 'epoch') {
    if (hasSeries)
      acc.notes.push(`${d.run}: recorded per epoch only (Keras's TensorBoard callback), shown on the epoch axis`);
    return null;
  }
  if (map && d.axis !== 'epoch') acc.epochLens.push(map.stepsPerEpoch);
  if (axis === 'epoch' && !map && hasSeries)
    acc.notes.push(`${d.run}: no epoch recorded yet, its per-step series are hidden on the epoch axis`);
  const xOfStep = (steps) => (axis === 'epoch' ? (map ? mapAll(steps, map.toEpoch) : null) : steps);
  return { map, xOfStep };
}

// Loss chart: epoch loss train/val, batch loss faint, the monitor if it is no loss.
function addLossSeries(acc, d, { axis, lossLog, multi, colour, xOfStep }) {
  const prefix = multi ? `${d.run} · ` : '';
  for (const s of d.loss.series) {
    const isLoss = LOSS_NAME.test(s.name);
    const isMonitor = s.name === d.loss.monitor;
    if (!isLoss && !isMonitor) continue;
    const x = s.resolution === 'epoch' && axis === 'epoch' && s.epoch ? mapAll(s.epoch, epochX) : xOfStep(s.step);
    if (!x) continue;
    const scale = isLoss ? 'y' : 'y2';
    if (scale === 'y2') acc.hasY2 = true;
    const cols = alignColumns(x, [s.value]);
    acc.lossTables.push([cols.x, lossLog && scale === 'y' ? positiveOnly(cols.ys[0]) : cols.ys[0]]);
    const batch = s.resolution === 'step';
    const val = s.name.startsWith('val_') || s.name.startsWith('validation');
    acc.lossSeries.push({
      label: prefix + s.name + (isMonitor ? ' (monitor)' : ''),
      run: d.run,
      name: s.name,
      color: colour.run,
      width: batch ? 1 : isMonitor ? 2.5 : 2,
      alpha: batch ? 0.35 : 1,
      dash: val ? [6, 4] : scale === 'y2' ? [2, 3] : null,
      points: !batch,
      scale,
      kind: batch ? 'batch' : scale === 'y2' ? 'monitor' : val ? 'val' : 'train',
    });
  }
}

// LR chart: planned dashed, actual solid, a colour per optimizer.
function addLrSeries(acc, d, { multi, single, colour, xOfStep }) {
  const prefix = multi ? `${d.run} · ` : '';
  for (const o of d.lr.optimizers) {
    const x = xOfStep(o.step);
    if (!x) continue;
    const optName = single && d.lr.optimizers.length === 1 ? '' : `${o.name} `;
    const hasPlanned = o.planned.some((v) => v !== null);
    const cols = alignColumns(x, [o.actual, o.planned]);
    const [actual, planned] = cols.ys.map(positiveOnly);
    acc.lrTables.push(hasPlanned ? [cols.x, actual, planned] : [cols.x, actual]);
    // Every step sent: draw steps (a point's LR holds until the next
    // update). Thinned: the server kept both sides of every change, so
    // lines are exact at changes and follow smooth schedules when zoomed.
    const base = { run: d.run, optimizer: o.name, color: colour.optimizer.get(o.name), stepped: !d.lr.downsampled };
    acc.lrSeries.push({ label: `${prefix}${optName}actual`, ...base, kind: 'actual', width: 2, dash: null });
    if (hasPlanned) {
      acc.lrSeries.push({ label: `${prefix}${optName}planned`, ...base, kind: 'planned', width: 1.5, dash: [6, 4] });
    }
  }
  const thinned = formatDownsampling(d.lr.shown, d.lr.points, d.lr.downsampled);
  if (thinned) acc.thinned.push(`${multi ? d.run + ': ' : 'LR chart '}${thinned}; the export has every step`);
  const who = multi ? `${d.run}: ` : '';
  for (const s of d.lr.sampled || []) {
    acc.notes.push(
      `${who}${s.name}: ${formatStep(s.shown)} of ${formatStep(s.steps)} steps shown ` +
        '(TensorBoard keeps 1,000 points of a scalar; start it with --samples_per_plugin=scalars=0 for all)',
    );
  }
  if (d.lr.limits && d.lr.limits.length) acc.notes.push(`${who}not in these logs: ${d.lr.limits.join('; ')}`);
}

// Events: a marker per LR change, a band per cooldown, a line per min_lr floor.
function addEventMarks(acc, d, { axis, map, multi, colour }) {
  const color = colour.run;
  const marker = (x, e, label) => ({
    x,
    run: d.run,
    kind: e.kind,
    color,
    label,
    title: describeEvent(e, d.run, multi),
    event: e,
  });
  const openCooldown = new Map();
  for (const e of d.events) {
    const x = eventX(e, axis, map);
    if (x === null) continue;
    if (e.kind === 'reduction' || e.kind === 'lr_change' || e.kind === 'scheduler') {
      acc.markers.push(marker(x, e, formatLRChange(e.old_lr, e.new_lr)));
      if (e.kind === 'reduction' && reachesFloor(e)) addFloor(acc.floors, d.run, e.min_lr, x, color);
    } else if (e.kind === 'min_lr_floor') {
      // A floor hit repeats every epoch once the LR is at min_lr: mark the
      // first (the table lists them all, the LR chart draws the floor).
      if (!acc.markers.some((m) => m.run === d.run && m.kind === 'min_lr_floor')) {
        acc.markers.push(marker(x, e, 'at min_lr'));
      }
      if (typeof e.min_lr === 'number') addFloor(acc.floors, d.run, e.min_lr, x, color);
    } else if (e.kind === 'cooldown') {
      const key = e.optimizer ?? '';
      if (e.phase === 'start') {
        if (!openCooldown.has(key)) openCooldown.set(key, x);
      } else if (e.phase === 'end' && openCooldown.has(key)) {
        acc.bands.push({ from: openCooldown.get(key), to: x, run: d.run, color, open: false });
        openCooldown.delete(key);
      }
    }
  }
  for (const from of openCooldown.values()) acc.bands.push({ from, to: null, run: d.run, color, open: true });
}

function reachesFloor(e) {
  return typeof e.min_lr === 'number' && typeof e.new_lr === 'number' && e.new_lr <= e.min_lr * (1 + 1e-6);
}

// Joins the tables and closes what depends on all runs (the extent, open bands).
function finishView(acc, axis, lossLog) {
  const { lossSeries, lrSeries, markers, bands, epochLens } = acc;
  const loss = joinTables(acc.lossTables);
  const lr = joinTables(acc.lrTables);
  const extent = dataExtent(
    [loss[0], lr[0]],
    markers.map((m) => m.x),
  );
  for (const b of bands) if (b.to === null) b.to = extent ? extent[1] : b.from;
  // One note per thinned run reads well for a few runs; for many, one for all.
  if (acc.thinned.length > MAX_THINNED_NOTES) {
    acc.notes.push(
      `LR chart: ${acc.thinned.length} runs thinned for display (every LR change kept); the export has every step`,
    );
  } else acc.notes.push(...acc.thinned);
  const meanEpoch = epochLens.length ? epochLens.reduce((a, b) => a + b, 0) / epochLens.length : null;
  return {
    axis,
    loss: { data: loss, series: lossSeries, hasY2: acc.hasY2, log: lossLog },
    lr: { data: lr, series: lrSeries },
    markers,
    bands,
    floors: acc.floors,
    extent,
    unitsPerEpoch: axis === 'epoch' ? 1 : meanEpoch,
    notes: acc.notes,
    empty: lossSeries.length === 0 && lrSeries.length === 0,
    markerLabels: labelsWanted(markers),
    highlight: null,
  };
}

// ------------------------------------------------------------ LR range test

export const SUGGESTIONS = ['valley', 'steepest'];

/**
 * The LR range test chart of the selected runs: loss against LR (log x),
 * raw loss faint and smoothed loss solid in the run's colour, a marker at
 * each suggestion, and one line of text per test.
 *
 * @param {object[]} runDatas what `client.runData()` returned (`finder`: tests).
 * @returns {{data: Array, series: object[], markers: object[], tests: object[],
 *   yRange: number[]|null, empty: boolean}}
 */
export function buildFinderView(runDatas) {
  const colours = assignColours(runDatas);
  const withTests = runDatas.filter((d) => Array.isArray(d.finder) && d.finder.length);
  const multiRun = withTests.length > 1;
  const tables = [];
  const series = [];
  const markers = [];
  const tests = [];
  for (const d of withTests) {
    const color = colours.get(d.run).run;
    d.finder.forEach((t, i) => {
      const name = [multiRun ? d.run : null, d.finder.length > 1 ? `test ${i + 1}` : null].filter(Boolean).join(' · ');
      const prefix = name ? `${name} · ` : '';
      tests.push({ run: d.run, name, color, ...describeRangeTest(t), test: t });
      if (!t.lr.length) return;
      tables.push([t.lr, t.loss, t.smoothed]);
      series.push({ label: `${prefix}loss`, run: d.run, kind: 'raw', color, width: 1, alpha: 0.35 });
      series.push({ label: `${prefix}smoothed`, run: d.run, kind: 'smoothed', color, width: 2, alpha: 1 });
      for (const kind of SUGGESTIONS) {
        const x = t[kind];
        if (x === null) continue;
        const title = `${prefix}${kind === 'valley' ? 'suggested LR (valley rule)' : 'steepest descent of the smoothed loss'}: ${formatLR(x)}`;
        markers.push({ x, run: d.run, kind, color, label: `${kind} ${formatLR(x)}`, title });
      }
    });
  }
  return {
    data: joinTables(tables),
    series,
    markers,
    tests,
    yRange: finderYRange(withTests.flatMap((d) => d.finder)),
    empty: series.length === 0,
  };
}

/**
 * What one range test says, as text: `{suggested, steepest, span}` where
 * span is "52 of 60 steps (stopped early), LR 1e-4 → 7.41e-1".
 */
export function describeRangeTest(t) {
  const n = t.lr.length;
  let steps = `${formatStep(n)} step${n === 1 ? '' : 's'}`;
  if (t.numSteps !== null && n < t.numSteps)
    steps = `${formatStep(n)} of ${formatStep(t.numSteps)} steps (stopped early)`;
  const span = n ? `${steps}, LR ${formatLR(t.lr[0])} → ${formatLR(t.lr[n - 1])}` : 'no step recorded';
  return { suggested: formatLR(t.valley), steepest: formatLR(t.steepest), span };
}

/**
 * The loss range to show: from the lowest loss (raw or smoothed) to the
 * highest smoothed loss before the end of each test, with a margin. The
 * last points of a range test are where the loss blew up (that is what
 * stopped it): left to run off the top so the descent stays readable.
 * null when nothing is finite (the chart then picks its own range).
 */
export function finderYRange(tests) {
  const finite = (v) => typeof v === 'number' && Number.isFinite(v);
  let lo = Infinity;
  let hi = -Infinity;
  let top = -Infinity; // the highest value of all, when no smoothed loss is known
  for (const t of tests) {
    const n = t.lr.length;
    for (let i = 0; i < n; i++) {
      for (const v of [t.loss[i], t.smoothed[i]]) {
        if (!finite(v)) continue;
        lo = Math.min(lo, v);
        top = Math.max(top, v);
      }
      if ((i < n - 1 || n <= 3) && finite(t.smoothed[i])) hi = Math.max(hi, t.smoothed[i]);
    }
  }
  if (!Number.isFinite(lo)) return null;
  if (!Number.isFinite(hi)) hi = top;
  const pad = hi > lo ? (hi - lo) * 0.08 : Math.abs(hi) * 0.1 || 1;
  return [lo - pad, hi + pad];
}

function addFloor(floors, run, y, x, color) {
  const had = floors.find((f) => f.run === run && f.y === y);
  if (had) had.fromX = Math.min(had.fromX, x);
  else floors.push({ run, y, fromX: x, color, label: `min_lr ${formatLR(y)}` });
}

/** Where an event goes on the x axis (null when it cannot be placed). */
export function eventX(e, axis, map) {
  if (axis === 'epoch') {
    if (typeof e.epoch === 'number') return epochX(e.epoch);
    return map && typeof e.step === 'number' ? map.toEpoch(e.step) : null;
  }
  if (typeof e.step === 'number') return e.step;
  return map && typeof e.epoch === 'number' ? map.toStep(epochX(e.epoch)) : null;
}

/** The tooltip of a marker / the long description of an event. */
export function describeEvent(e, run, withRun) {
  const head = `${withRun ? run + ': ' : ''}epoch ${formatEpoch(e.epoch)}, step ${formatStep(e.step)}`;
  const opt = e.optimizer ? ` (${e.optimizer})` : '';
  switch (e.kind) {
    case 'reduction':
      return [
        `${head} — plateau reduction${opt}`,
        `${e.monitor ?? 'monitor'} ${formatValue(e.value)}, best ${formatValue(e.best)}, ${formatWaitPhrase(e)}`,
        `LR ${formatLRChange(e.old_lr, e.new_lr)}` +
          (e.factor != null ? ` (factor ${formatValue(e.factor)})` : '') +
          (e.cooldown ? `, then ${e.cooldown} epochs of cooldown` : ''),
      ].join('\n');
    case 'min_lr_floor':
      return [
        `${head} — plateau ignored: LR at min_lr${opt}`,
        `${e.monitor ?? 'monitor'} ${formatValue(e.value)}, best ${formatValue(e.best)}, ${formatWaitPhrase(e)}`,
        `LR ${formatLR(e.lr)}, min_lr ${formatLR(e.min_lr)}`,
      ].join('\n');
    case 'cooldown':
      return `${head} — cooldown ${e.phase === 'end' ? 'ends' : `starts (${e.cooldown ?? '?'} epochs)`}${opt}`;
    case 'lr_change':
      return `${head} — LR changed outside any schedule${opt}: ${formatLRChange(e.old_lr, e.new_lr)}`;
    case 'scheduler':
      return `${head} — LearningRateScheduler${opt}: ${formatLRChange(e.old_lr, e.new_lr)}`;
    default:
      return head;
  }
}

/**
 * Aligns tables [x, y1, y2, ...] on the union of their x values (each x
 * column strictly increasing). A y missing at some x is `undefined` (the
 * chart joins across it); null (NaN) stays null (a gap). Like uPlot.join,
 * without the library, in one merge pass.
 */
export function joinTables(tables) {
  if (!tables.length) return [[]];
  const first = tables[0][0];
  if (tables.every((t) => sameArray(t[0], first))) {
    const out = [first];
    for (const t of tables) for (let i = 1; i < t.length; i++) out.push(t[i]);
    return out;
  }
  // The union of sorted x columns.
  let xs = [];
  for (const t of tables) xs = mergeSorted(xs, t[0]);
  const n = xs.length;
  const out = [xs];
  for (const t of tables) {
    const tx = t[0];
    const pos = new Int32Array(tx.length);
    for (let i = 0, j = 0; i < tx.length; i++) {
      while (xs[j] < tx[i]) j++;
      pos[i] = j;
    }
    for (let s = 1; s < t.length; s++) {
      const ys = t[s];
      const col = new Array(n).fill(undefined);
      for (let i = 0; i < tx.length; i++) col[pos[i]] = ys[i];
      out.push(col);
    }
  }
  return out;
}

function mergeSorted(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let v;
    if (j >= b.length || (i < a.length && a[i] < b[j])) v = a[i++];
    else if (i >= a.length || b[j] < a[i]) v = b[j++];
    else {
      v = a[i++];
      j++;
    }
    out.push(v);
  }
  return out;
}

function sameArray(a, b) {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// On a log axis a value <= 0 cannot be drawn: skip it (undefined joins across).
/**
 * The smallest value a log axis draws. Below about 1e-21 uPlot's log-axis split
 * generator (1.6.32) never reaches the next power of ten and throws "Invalid
 * array length", leaving the chart blank: an LR halved a hundred times gets
 * there. Such values are left out, as non-positive ones are.
 */
export const LOG_FLOOR = 1e-20;

function positiveOnly(values) {
  return values.map((v) => (v === null ? null : v >= LOG_FLOOR ? v : undefined));
}

function dataExtent(xCols, extra) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const xs of xCols) {
    if (xs.length) {
      lo = Math.min(lo, xs[0]);
      hi = Math.max(hi, xs[xs.length - 1]);
    }
  }
  for (const x of extra) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * The x range to show around a point (an event, a finding): about three
 * epochs on either side, at most a quarter of the whole run, so that the
 * view always visibly narrows.
 */
export function zoomAround(x, extent, unitsPerEpoch) {
  const span = extent ? extent[1] - extent[0] : 0;
  let half = unitsPerEpoch ? 3 * unitsPerEpoch : span * 0.05;
  if (span > 0) half = Math.min(half, span / 4);
  if (!(half > 0)) half = Math.max(1, Math.abs(x) * 0.05);
  return [x - half, x + half];
}

/**
 * Converts an x range from one axis to the other with the first run's map
 * (null when it cannot: the charts then show everything).
 */
export function convertRange(range, from, to, epochs) {
  if (!range || from === to) return range;
  const map = makeEpochMap(epochs);
  if (!map) return null;
  const fn = to === 'epoch' ? map.toEpoch : map.toStep;
  return [fn(range[0]), fn(range[1])];
}
