// Number formatting shared by the table, the legend, the markers and the axes.
// Pure functions: no DOM, no chart library (unit-tested with node --test).

/**
 * A learning rate in compact scientific notation: 0.001 -> "1e-3",
 * 0.00025 -> "2.5e-4", 0.1234 -> "1.23e-1". Float32 noise is rounded away
 * (0.0010000000474974513 -> "1e-3"). Values with exponent 0 print plainly
 * ("1", "2.5"). null/undefined -> "–", NaN -> "NaN".
 */
export function formatLR(value, digits = 3) {
  if (value === null || value === undefined) return '–';
  if (typeof value !== 'number') return String(value);
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  if (value === 0) return '0';
  const [mantissa, exp] = value.toExponential(Math.max(0, digits - 1)).split('e');
  const m = stripZeros(mantissa);
  const e = Number(exp);
  return e === 0 ? m : `${m}e${e}`;
}

/** "1e-3 → 1e-4" (the label of a plateau marker). */
export function formatLRChange(oldLR, newLR) {
  return `${formatLR(oldLR)} → ${formatLR(newLR)}`;
}

/**
 * A metric value (loss, monitored value) with 4 significant digits:
 * 0.523456 -> "0.5235", 12.5 -> "12.5"; tiny or huge values go scientific.
 */
export function formatValue(value, digits = 4) {
  if (value === null || value === undefined) return '–';
  if (typeof value !== 'number') return String(value);
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e6) return formatLR(value, digits);
  const text = value.toPrecision(digits);
  // toPrecision goes exponential from 10^digits on: print those as plain numbers.
  return text.includes('e') ? String(Number(text)) : stripZeros(text);
}

/** An integer step with thousands separators: 1000000 -> "1,000,000". */
export function formatStep(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const rounded = Math.round(value);
  const sign = rounded < 0 ? '-' : '';
  return sign + String(Math.abs(rounded)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A compact axis tick: 1500 -> "1.5k", 2000000 -> "2M", 0.5 -> "0.5". */
export function formatCompact(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '';
  const abs = Math.abs(value);
  const units = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) return stripZeros((value / size).toFixed(abs / size >= 100 ? 0 : 2)) + suffix;
  }
  if (Number.isInteger(value)) return String(value);
  return stripZeros(value.toPrecision(3));
}

/**
 * An epoch as Keras prints it ("Epoch 5/50"): the 0-based epoch of the
 * data plus one, as the audit's messages and `tb-lr-audit` count too.
 */
export function formatEpoch(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return formatEpochX(value + 1);
}

/** A place on the epoch axis (epochs completed): 46 -> "46", 45.5 -> "45.5". */
export function formatEpochX(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return Number.isInteger(value) ? String(value) : stripZeros(value.toFixed(2));
}

/**
 * A plateau event's patience count in its framework's own terms: "3/5" for
 * Keras (it reduces when wait >= patience), "num_bad_epochs 3 > patience 2"
 * for torch (it reduces when num_bad_epochs > patience); "–" when neither
 * is known.
 */
export function formatWait(wait, patience, framework) {
  if (wait == null && patience == null) return '–';
  if (framework === 'torch') {
    const below = Number.isFinite(wait) && Number.isFinite(patience) && !(wait > patience);
    return `num_bad_epochs ${wait ?? '?'} ${below ? '<=' : '>'} patience ${patience ?? '?'}`;
  }
  return `${wait ?? '?'}/${patience ?? '?'}`;
}

/** The same count in a sentence: "wait 3/5", or torch's own wording. */
export function formatWaitPhrase(e) {
  const text = formatWait(e.wait, e.patience, e.framework);
  return e.framework === 'torch' ? text : `wait ${text}`;
}

/** "2,000 of 1,000,000 points" when the server thinned a series for display. */
export function formatDownsampling(shown, total, downsampled) {
  if (!downsampled || !Number.isFinite(total) || total <= shown) return '';
  return `showing ${formatStep(shown)} of ${formatStep(total)} points (every LR change kept)`;
}

function stripZeros(text) {
  // "2.500" -> "2.5", "1.000" -> "1", "1.50e-4" handled by callers splitting first.
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}
