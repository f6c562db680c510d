// What the run table shows, one row per run, from the route answers the tab
// already has (runs, lr, loss, events, audit): the schedule, the LR
// reductions, the final LR, the best monitored value and when it was
// reached, the findings by severity. Sorting and filtering too. Pure (no
// DOM), unit-tested with node.

import { formatLR, formatValue } from './format.js';

const LR_EVENTS = new Set(['reduction', 'lr_change', 'scheduler']);
// A monitor whose name says it grows (Keras's ReduceLROnPlateau "auto" mode).
const MAXIMISED = /acc|auc|precision|recall|f1|iou/i;
// Key parameters of Keras's schedules, in the order they are written.
const KEY_PARAMS = [
  ['initial_learning_rate', ''],
  ['warmup_target', 'warmup to'],
  ['warmup_steps', 'warmup'],
  ['decay_steps', 'steps'],
  ['first_decay_steps', 'steps'],
  ['decay_rate', 'rate'],
  ['end_learning_rate', 'end'],
  ['power', 'power'],
  ['alpha', 'alpha'],
  ['boundaries', 'at'],
  ['values', 'values'],
  ['staircase', 'staircase'],
];

/**
 * One row of the run table.
 *
 * @param {object} info the run's entry of the `runs` route (data.parseRuns).
 * @param {object|null} d what client.runData() returned (null: still loading).
 * @returns {{run, source, steps, epochs, schedule, reductions, finalLr,
 *   best, bestEpoch, monitor, warnings, infos}} numbers or null when unknown.
 */
export function runRow(info, d) {
  const row = { run: info.run, source: info.source ?? null, steps: info.steps, epochs: info.epochs };
  if (!d) return { ...row, schedule: null, reductions: null, finalLr: null, best: null, bestEpoch: null };
  const events = d.events || [];
  const best = bestMonitored(d.loss);
  return {
    ...row,
    schedule: describeSchedule(d.lr, events),
    reductions: events.filter((e) => LR_EVENTS.has(e.kind) && e.new_lr < e.old_lr).length,
    finalLr: finalLr(d.lr),
    best: best.value,
    bestEpoch: best.epoch,
    monitor: best.name,
    warnings: d.findings ? d.findings.filter((f) => f.severity === 'warning').length : null,
    infos: d.findings ? d.findings.filter((f) => f.severity !== 'warning').length : null,
  };
}

/**
 * The best value of the run's monitor (the plateau callback's, else
 * val_loss, else loss) and the epoch it was reached (0-based, as recorded).
 */
export function bestMonitored(loss) {
  const series = (loss && loss.series) || [];
  const byName = (n) => series.find((s) => s.name === n && s.resolution === 'epoch') || null;
  const s = (loss && loss.monitor && byName(loss.monitor)) || byName('val_loss') || byName('loss');
  if (!s) return { name: null, value: null, epoch: null };
  const better = MAXIMISED.test(s.name) ? (a, b) => a > b : (a, b) => a < b;
  let k = -1;
  s.value.forEach((v, i) => {
    if (v !== null && Number.isFinite(v) && (k < 0 || better(v, s.value[k]))) k = i;
  });
  if (k < 0) return { name: s.name, value: null, epoch: null };
  const epoch = s.epoch && s.epoch[k] !== null ? s.epoch[k] : k;
  return { name: s.name, value: s.value[k], epoch };
}

/** The last actual LR of the run's first optimizer (null when none). */
export function finalLr(lr) {
  const o = lr && lr.optimizers && lr.optimizers[0];
  if (!o) return null;
  for (let i = o.actual.length - 1; i >= 0; i--) if (o.actual[i] !== null) return o.actual[i];
  return null;
}

/**
 * The schedule in a few words: the recorded plan's class and key
 * parameters ("CosineDecay(1e-3, steps 3000)"), a LearningRateScheduler
 * function, a constant; plus the plateau callback's factor and patience
 * when it reduced the LR. "–" when nothing says.
 */
export function describeSchedule(lr, events) {
  const parts = [];
  const plans = (lr && lr.plans) || {};
  const names = Object.keys(plans);
  for (const name of names) {
    const text = describePlan(plans[name]);
    if (text) parts.push(names.length > 1 ? `${name}: ${text}` : text);
  }
  const reduction = events.find((e) => e.kind === 'reduction');
  if (reduction) {
    const args = [
      reduction.factor != null ? `factor ${formatValue(reduction.factor)}` : null,
      reduction.patience != null ? `patience ${reduction.patience}` : null,
    ].filter(Boolean);
    parts.push(`ReduceLROnPlateau(${args.join(', ')})`);
  } else if (events.some((e) => e.kind === 'lr_change')) parts.push('LR changed by a callback');
  // Keras's LearningRateScheduler sets the LR each epoch over whatever the optimizer was built with.
  if (events.some((e) => e.kind === 'scheduler')) {
    const from = parts.length && /^constant /.test(parts[0]) ? ` from ${parts.shift().slice(9)}` : '';
    parts.unshift(`LearningRateScheduler${from}`);
  }
  return parts.length ? parts.join(' + ') : '–';
}

function describePlan(p) {
  const plan = p && p.plan;
  if (!plan || typeof plan.type !== 'string')
    return p && p.initialLr != null ? `constant ${formatLR(p.initialLr)}` : '';
  if (plan.type === 'constant') {
    const v = typeof plan.value === 'number' ? plan.value : p.initialLr;
    return v != null ? `constant ${formatLR(v)}` : 'constant';
  }
  if (plan.type === 'function') return `LearningRateScheduler(${plan.name || 'fn'})`;
  if (plan.base) return `${plan.type}(${describePlan({ plan: plan.base })})`;
  const config = plan.config && typeof plan.config === 'object' ? plan.config : {};
  const args = [];
  for (const [key, name] of KEY_PARAMS) {
    const v = config[key];
    if (v === undefined || v === null || v === false) continue;
    const text = /learning_rate|target/.test(key) ? formatLR(v) : formatParam(v);
    args.push(name ? `${name} ${text}` : text);
  }
  return `${plan.type}(${args.slice(0, 4).join(', ')})`;
}

function formatParam(v) {
  if (Array.isArray(v)) return `[${v.slice(0, 4).map(formatParam).join(' ')}${v.length > 4 ? ' …' : ''}]`;
  if (typeof v === 'number') return formatValue(v);
  return String(v).slice(0, 24);
}

/** The table's columns: key, header, whether it sorts as a number. */
export const COLUMNS = [
  { key: 'run', head: 'run', numeric: false },
  { key: 'source', head: 'source', numeric: false },
  { key: 'steps', head: 'steps', numeric: true },
  { key: 'epochs', head: 'epochs', numeric: true },
  { key: 'schedule', head: 'schedule', numeric: false },
  { key: 'reductions', head: 'reductions', numeric: true },
  { key: 'finalLr', head: 'final LR', numeric: true },
  { key: 'best', head: 'best', numeric: true },
  { key: 'bestEpoch', head: 'at epoch', numeric: true },
  { key: 'findings', head: 'findings', numeric: true },
];

/**
 * Rows sorted by column `key` (`dir` 1 ascending, -1 descending); unknown
 * values last either way, ties in the given order. "findings" sorts by
 * warnings, then infos; "best" by each row's own sense (a maximised
 * monitor's best is its largest) when all rows share it.
 */
export function sortRows(rows, key, dir = 1) {
  const col = COLUMNS.find((c) => c.key === key);
  const value = (r) => (key === 'findings' ? (r.warnings == null ? null : r.warnings * 1e6 + r.infos) : r[key]);
  const known = (v) => v !== null && v !== undefined && !(typeof v === 'number' && Number.isNaN(v));
  const cmp =
    col && col.numeric ? (a, b) => a - b : (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });
  return rows
    .map((r, i) => [r, i])
    .sort(([a, i], [b, j]) => {
      const va = value(a);
      const vb = value(b);
      if (!known(va) || !known(vb)) return known(va) ? -1 : known(vb) ? 1 : i - j;
      return dir * cmp(va, vb) || i - j;
    })
    .map(([r]) => r);
}

/**
 * The rows whose run matches the filter box's text: a case-insensitive
 * regex, or plain text when it is none (as the run selector filters).
 */
export function filterRows(rows, text) {
  const { test } = runMatcher(text);
  return rows.filter((r) => test(r.run));
}

/** `{test(run), valid}`: the filter box's text as a case-insensitive regex, or as plain text when it is none. */
export function runMatcher(text) {
  if (!text) return { test: () => true, valid: true };
  try {
    const re = new RegExp(text, 'i');
    return { test: (s) => re.test(s), valid: true };
  } catch {
    const needle = text.toLowerCase();
    return { test: (s) => s.toLowerCase().includes(needle), valid: false };
  }
}
