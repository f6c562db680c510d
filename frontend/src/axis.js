// Mapping between the step axis and the epoch axis, from a run's epochs table
// ({"epoch": [...], "step": [...]}, the step of each epoch's last update).
// Pure functions (unit-tested with node --test).
//
// The epoch axis counts epochs completed, as the step axis counts updates
// done: x = k is the end of the epoch Keras prints as "Epoch k" (the data's
// 0-based epoch k - 1), where its epoch logs are taken and where a
// ReduceLROnPlateau decision printed as "Epoch k: ReduceLROnPlateau ..."
// happens. A step inside that epoch lies proportionally between k - 1 and
// k; steps after the last recorded epoch are extrapolated with the last
// epoch's length.

/** Where the end of the data's (0-based) `epoch` lies on the epoch axis. */
export function epochX(epoch) {
  return epoch + 1;
}

/**
 * Builds the step <-> epoch mapping of one run.
 *
 * @param {{epoch: number[], step: number[]}|null|undefined} epochs
 * @returns {{toEpoch: (s: number) => number, toStep: (e: number) => number,
 *   stepsPerEpoch: number, knots: number} | null} null when the run has no
 *   usable epoch (the epoch axis is then unavailable for it).
 */
export function makeEpochMap(epochs) {
  if (!epochs || !Array.isArray(epochs.epoch) || !Array.isArray(epochs.step)) return null;
  // Asked for several times per draw (the toolbar, each chart, the
  // markers), of tables that do not change once parsed.
  if (!epochMaps.has(epochs)) epochMaps.set(epochs, buildEpochMap(epochs));
  return epochMaps.get(epochs);
}

const epochMaps = new WeakMap();

function buildEpochMap(epochs) {
  const pairs = [];
  const n = Math.min(epochs.epoch.length, epochs.step.length);
  for (let i = 0; i < n; i++) {
    const e = epochs.epoch[i];
    const s = epochs.step[i];
    if (Number.isFinite(e) && Number.isFinite(s)) pairs.push([s, epochX(e)]);
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // Keep knots strictly increasing in both step and epoch: an epoch with no
  // update (same step as the previous one) keeps the later epoch number.
  const steps = [];
  const eps = [];
  for (const [s, e] of pairs) {
    const last = steps.length - 1;
    if (last >= 0 && s === steps[last]) {
      if (e > eps[last]) eps[last] = e;
      continue;
    }
    if (last >= 0 && e <= eps[last]) continue;
    steps.push(s);
    eps.push(e);
  }
  if (!steps.length) return null;
  const k = steps.length;
  // Steps per epoch, used before the first and after the last knot.
  const meanLen = k > 1 ? (steps[k - 1] - steps[0]) / (eps[k - 1] - eps[0]) : eps[0] > 0 ? steps[0] / eps[0] : steps[0];
  const firstLen = eps[0] === 1 && steps[0] > 0 ? steps[0] : meanLen > 0 ? meanLen : 1;
  const lastLen = k > 1 ? (steps[k - 1] - steps[k - 2]) / (eps[k - 1] - eps[k - 2]) : firstLen;
  // Knot before the first epoch: where that epoch started.
  steps.unshift(steps[0] - firstLen * 1);
  eps.unshift(eps[0] - 1);

  const toEpoch = (s) => interpolate(steps, eps, s, 1 / (lastLen || 1));
  const toStep = (e) => interpolate(eps, steps, e, lastLen || 1);
  return { toEpoch, toStep, stepsPerEpoch: meanLen > 0 ? meanLen : firstLen, knots: k };
}

/**
 * Maps a sorted array of values through `fn` in one pass, keeping nulls.
 * Returns a plain array (uPlot wants arrays of numbers or nulls).
 */
export function mapAll(values, fn) {
  const out = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v === null || v === undefined ? v : fn(v);
  }
  return out;
}

// Piecewise-linear interpolation on sorted knots `xs` -> `ys`, extrapolating
// on the left with the first segment and on the right with `rightSlope`.
function interpolate(xs, ys, x, rightSlope) {
  const n = xs.length;
  if (x >= xs[n - 1]) return ys[n - 1] + (x - xs[n - 1]) * rightSlope;
  if (x <= xs[0]) {
    const slope = (ys[1] - ys[0]) / (xs[1] - xs[0]);
    return ys[0] + (x - xs[0]) * slope;
  }
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid;
  }
  const t = (x - xs[lo]) / (xs[hi] - xs[lo]);
  return ys[lo] + t * (ys[hi] - ys[lo]);
}
