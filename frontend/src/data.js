// Every request the tab makes, and the parsing of every answer: one place.
// The routes are relative to the iframe's <base href="plugin/learning_rate/">,
// so "./runs" is /data/plugin/learning_rate/runs.
//
// Parsing is defensive: the tab must draw what it can from a partial or odd
// answer rather than throw, and never trusts a field's type.

import { routeUrl, viewParams } from './first_view.js';

export const EVENT_KINDS = ['reduction', 'cooldown', 'min_lr_floor', 'lr_change', 'scheduler'];

/** A failed route: which one, the HTTP status (0 for a network error), why. */
export class RouteError extends Error {
  constructor(route, status, message) {
    super(message);
    this.name = 'RouteError';
    this.route = route;
    this.status = status;
  }

  describe() {
    const where = this.status ? `${this.route} (HTTP ${this.status})` : this.route;
    return `${where}: ${this.message}`;
  }
}

/**
 * The data client: what the tab reads, parsed. It reads through a
 * transport, the one seam between the tab and a backend:
 *
 *   transport.get(route, params) -> Promise<object>  the route's JSON answer
 *     (route: 'runs' | 'lr' | 'loss' | 'events' | 'audit' | 'finder'; params:
 *     {run}, none, or [[name, value], ...] for `view`'s repeated `run`);
 *     rejects with a RouteError.
 *   transport.batched: true when it answers `view` (many runs at once).
 *   transport.exportUrl(run, format) -> string  a link to the CSV/JSON export.
 *
 * fetchTransport serves TensorBoard's routes; a page without a server (a
 * report with the answers inlined) passes its own transport.
 *
 * @param {typeof fetch | {get: Function, exportUrl: Function}} source a fetch
 *   (injectable for the demo page and the tests) or a transport.
 */
export function createClient(source = (...a) => globalThis.fetch(...a)) {
  const transport = typeof source === 'function' ? fetchTransport(source) : source;
  const getJSON = (route, params) => transport.get(route, params);

  return {
    async runs() {
      return parseRuns(await getJSON('runs'));
    },
    async lr(run) {
      return parseLr(await getJSON('lr', { run }));
    },
    async loss(run) {
      return parseLoss(await getJSON('loss', { run }));
    },
    async events(run) {
      return parseEvents(await getJSON('events', { run }));
    },
    async audit(run) {
      return parseAudit(await getJSON('audit', { run }));
    },
    async finder(run) {
      return parseFinder(await getJSON('finder', { run }));
    },
    /**
     * Everything the view needs for one run, fetched in parallel. A failing
     * route does not hide the others: its RouteError is in `errors`.
     * `{audit: false}` leaves the findings out (null), to fetch them later;
     * `{finder: true}` also fetches the LR range tests (runs listing some).
     */
    runData(run, options) {
      return loadRunData(this, run, options);
    },
    /** Whether the transport answers `view` (many runs in one request; see run_loader.js). */
    batched: Boolean(transport.batched),
    /**
     * `view`: many runs' route answers in one request.
     *
     * @param {string[]|number} runs the run names, or how many of the
     *   listing's first runs (`first=N`).
     * @param {{parts?: string[], points?: number|null, listing?: boolean}} options
     * @returns {Promise<{items: object[], listing: object[]|null}>} `items`:
     *   [{run, <part>: the part's route answer}] unparsed; `listing`: the
     *   `runs` route's list (parseRuns), when asked for.
     */
    async view(runs, { parts = [], points = null, listing = false } = {}) {
      const params = viewParams(runs, { parts, points, listing });
      const json = await getJSON('view', params);
      return {
        items: json && Array.isArray(json.runs) ? json.runs : [],
        listing: listing ? parseRuns({ runs: json && json.listing }) : null,
      };
    },
    exportUrl(run, format) {
      return transport.exportUrl(run, format);
    },
  };
}

/**
 * The transport over the plugin's HTTP routes, relative to the iframe's base.
 *
 * @param {typeof fetch} fetchImpl
 */
export function fetchTransport(fetchImpl) {
  async function get(route, params) {
    const url = routeUrl(route, params);
    let response;
    try {
      response = await fetchImpl(url, { headers: { Accept: 'application/json' } });
    } catch (e) {
      throw new RouteError(route, 0, `network error (${e && e.message ? e.message : e})`);
    }
    let body = null;
    let text = '';
    try {
      text = await response.text();
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const message =
        body && typeof body.error === 'string'
          ? body.error
          : text.slice(0, 200) || response.statusText || 'request failed';
      throw new RouteError(route, response.status, message);
    }
    if (body === null || typeof body !== 'object') {
      throw new RouteError(route, response.status, 'the answer is not JSON');
    }
    return body;
  }
  return {
    get,
    batched: true,
    exportUrl: (run, format) => `./export?${new URLSearchParams({ run, format })}`,
  };
}

/**
 * `fetchImpl`, except that the first call for `started.url` takes
 * `started.response`: the request entry.js sent before the app was loaded.
 *
 * @param {{url: string, response: Promise<Response>}|null} started
 * @param {typeof fetch} fetchImpl
 */
export function adoptStarted(started, fetchImpl = (...a) => globalThis.fetch(...a)) {
  let pending = started;
  return (url, init) => {
    if (pending && url === pending.url) {
      const { response } = pending;
      pending = null;
      return response;
    }
    return fetchImpl(url, init);
  };
}

// client.runData: every route of one run at once, each failure kept apart.
async function loadRunData(client, run, { audit: withAudit = true, finder: withFinder = false } = {}) {
  const [lr, loss, events, audit, finder] = await Promise.allSettled([
    client.lr(run),
    client.loss(run),
    client.events(run),
    withAudit ? client.audit(run) : Promise.resolve(null),
    withFinder ? client.finder(run) : Promise.resolve(emptyFinder(run)),
  ]);
  return assembleRunData(run, { lr, loss, events, audit, finder });
}

/**
 * One run's data as client.runData gives it, from each route's settled
 * promise (Promise.allSettled's {status, value, reason}); a rejected one
 * leaves its part empty and its RouteError in `errors`.
 */
export function assembleRunData(run, { lr, loss, events, audit, finder }) {
  const errors = [];
  const take = (result, empty) => {
    if (result.status === 'fulfilled') return result.value;
    errors.push(asRouteError(result.reason));
    return empty;
  };
  const lrData = take(lr, emptyLr(run));
  const lossData = take(loss, emptyLoss(run));
  return {
    run,
    lr: lrData,
    loss: lossData,
    epochs: lrData.epochs.epoch.length ? lrData.epochs : lossData.epochs,
    // "epoch": a run known by epochs only (Keras's TensorBoard callback
    // alone), whose "step" columns hold epochs: it has no step axis.
    axis: lrData.optimizers.length ? lrData.axis : lossData.axis,
    events: take(events, []),
    // null: not asked for yet (the tab fetches the audit after drawing).
    findings: take(audit, []),
    // LR range tests, as parseFinder gives them ([] when none).
    finder: take(finder, emptyFinder(run)).tests,
    errors,
  };
}

export function asRouteError(e) {
  return e instanceof RouteError ? e : new RouteError('?', 0, String(e && e.message ? e.message : e));
}

// ---------------------------------------------------------------- parsing

/** `runs` -> [{run, optimizers, source, steps, epochs, events, finder, limits}], in server order. */
export function parseRuns(json) {
  const list = json && Array.isArray(json.runs) ? json.runs : [];
  const seen = new Set();
  const runs = [];
  for (const item of list) {
    const r = typeof item === 'string' ? { run: item } : item;
    if (!r || typeof r.run !== 'string' || seen.has(r.run)) continue;
    seen.add(r.run);
    runs.push({
      run: r.run,
      optimizers: Array.isArray(r.optimizers) ? r.optimizers.filter((o) => typeof o === 'string') : [],
      source: typeof r.source === 'string' ? r.source : 'logger',
      steps: num(r.steps),
      epochs: num(r.epochs),
      events: num(r.events),
      finder: num(r.finder) ?? 0,
      limits: strings(r.limits),
    });
  }
  return runs;
}

/** `lr?run=` -> {run, optimizers: [{name, step, planned, actual}], epochs, points, downsampled}. */
export function parseLr(json) {
  const run = json && typeof json.run === 'string' ? json.run : '';
  const optimizers = [];
  for (const o of json && Array.isArray(json.optimizers) ? json.optimizers : []) {
    if (!o || typeof o !== 'object') continue;
    const cols = alignColumns(o.step, [o.planned, o.actual]);
    optimizers.push({
      name: typeof o.name === 'string' ? o.name : `optimizer ${optimizers.length + 1}`,
      step: cols.x,
      planned: cols.ys[0],
      actual: cols.ys[1],
    });
  }
  // `points` counts every recorded row over all optimizers; so does `shown`.
  const shown = optimizers.reduce((n, o) => n + o.step.length, 0);
  return {
    run,
    axis: json && json.axis === 'epoch' ? 'epoch' : 'step',
    optimizers,
    epochs: parseEpochs(json && json.epochs),
    points: num(json && json.points) ?? shown,
    shown,
    downsampled: Boolean(json && json.downsampled),
    limits: strings(json && json.limits),
    hyper: parseHyper(json && json.hyperparameters),
    // LR series TensorBoard's scalar reservoir thinned: [{name, shown, steps}].
    sampled: (json && Array.isArray(json.sampled) ? json.sampled : []).filter(
      (s) => s && typeof s.name === 'string' && num(s.shown) !== null && num(s.steps) !== null,
    ),
    plans: parsePlans(json && json.plans),
  };
}

/** `hyperparameters` ({series: {param: {step, value}}}) -> [{name, param, step, value}]. */
export function parseHyper(json) {
  const out = [];
  if (!json || typeof json !== 'object') return out;
  for (const [name, params] of Object.entries(json)) {
    if (!params || typeof params !== 'object') continue;
    for (const [param, s] of Object.entries(params)) {
      if (!s || typeof s !== 'object') continue;
      const cols = alignColumns(s.step, [s.value]);
      if (cols.x.length) out.push({ name, param, step: cols.x, value: cols.ys[0] });
    }
  }
  return out;
}

// `plans`: optimizer -> {class, plan, initial_lr} as recorded ({} when none).
function parsePlans(plans) {
  const out = {};
  if (!plans || typeof plans !== 'object' || Array.isArray(plans)) return out;
  for (const [name, p] of Object.entries(plans)) {
    if (!p || typeof p !== 'object') continue;
    out[name] = {
      class: typeof p.class === 'string' ? p.class : null,
      plan: p.plan && typeof p.plan === 'object' ? p.plan : null,
      initialLr: num(p.initial_lr),
    };
  }
  return out;
}

function strings(v) {
  return Array.isArray(v) ? v.filter((s) => typeof s === 'string') : [];
}

/** `loss?run=` -> {run, monitor, series: [{name, source, resolution, step, epoch, value}], epochs}. */
export function parseLoss(json) {
  const series = [];
  for (const s of json && Array.isArray(json.series) ? json.series : []) {
    if (!s || typeof s.name !== 'string') continue;
    const resolution = s.resolution === 'epoch' ? 'epoch' : 'step';
    const hasEpoch = resolution === 'epoch' && Array.isArray(s.epoch);
    const cols = alignColumns(s.step, hasEpoch ? [s.value, s.epoch] : [s.value]);
    series.push({
      name: s.name,
      source: s.source === 'keras' ? 'keras' : 'logger',
      resolution,
      step: cols.x,
      value: cols.ys[0],
      epoch: hasEpoch ? cols.ys[1] : null,
    });
  }
  return {
    run: json && typeof json.run === 'string' ? json.run : '',
    axis: json && json.axis === 'epoch' ? 'epoch' : 'step',
    monitor: json && typeof json.monitor === 'string' ? json.monitor : null,
    series: preferLogger(series),
    epochs: parseEpochs(json && json.epochs),
  };
}

/** `events?run=` -> events sorted by step, each with a known kind. */
export function parseEvents(json) {
  const out = [];
  for (const e of json && Array.isArray(json.events) ? json.events : []) {
    if (!e || typeof e !== 'object' || !EVENT_KINDS.includes(e.kind)) continue;
    if (num(e.step) === null && num(e.epoch) === null) continue;
    out.push({ ...e, step: num(e.step), epoch: num(e.epoch) });
  }
  return out.sort((a, b) => (a.step ?? 0) - (b.step ?? 0) || (a.epoch ?? 0) - (b.epoch ?? 0));
}

/** `audit?run=` -> [{kind, severity, epoch, step, message}], warnings first. */
export function parseAudit(json) {
  const out = [];
  for (const f of json && Array.isArray(json.findings) ? json.findings : []) {
    if (!f || typeof f !== 'object') continue;
    out.push({
      kind: typeof f.kind === 'string' ? f.kind : 'finding',
      severity: f.severity === 'warning' ? 'warning' : 'info',
      epoch: num(f.epoch),
      step: num(f.step),
      message: typeof f.message === 'string' ? f.message : String(f.message ?? ''),
    });
  }
  const rank = { warning: 0, info: 1 };
  return out
    .map((f, i) => [f, i])
    .sort((a, b) => rank[a[0].severity] - rank[b[0].severity] || a[1] - b[1])
    .map(([f]) => f);
}

/**
 * `finder?run=` -> {run, tests: [{lr, loss, smoothed, steepest, valley, minLr,
 * maxLr, numSteps, step, time}]}: each range test's curve as aligned columns
 * on increasing, positive LRs (loss and smoothed null where unknown), and
 * its two suggestions (null when the test was too short to give one).
 */
export function parseFinder(json) {
  const tests = [];
  for (const t of json && Array.isArray(json.tests) ? json.tests : []) {
    if (!t || typeof t !== 'object') continue;
    const cols = alignColumns(t.lr, [t.loss, t.smoothed]);
    const keep = cols.x.map((x) => x > 0);
    const pick = (col) => col.filter((_, i) => keep[i]);
    const positive = (v) => (num(v) !== null && v > 0 ? v : null);
    tests.push({
      lr: pick(cols.x),
      loss: pick(cols.ys[0]),
      smoothed: pick(cols.ys[1]),
      steepest: positive(t.steepest),
      valley: positive(t.valley),
      minLr: positive(t.min_lr),
      maxLr: positive(t.max_lr),
      numSteps: num(t.num_steps),
      step: num(t.step),
      time: num(t.time),
    });
  }
  return { run: json && typeof json.run === 'string' ? json.run : '', tests };
}

export function parseEpochs(epochs) {
  if (!epochs || typeof epochs !== 'object') return { epoch: [], step: [] };
  const cols = alignColumns(epochs.step, [epochs.epoch]);
  const keep = cols.ys[0].map((e) => e !== null);
  return {
    step: cols.x.filter((_, i) => keep[i]),
    epoch: cols.ys[0].filter((_, i) => keep[i]),
  };
}

/**
 * Makes display columns safe for the chart: an x column of finite numbers,
 * strictly increasing (sorted if the server sent them out of order, the last
 * value kept for a repeated x), and y columns of the same length holding
 * numbers or null (JSON's null stands for NaN; anything else non-numeric
 * becomes null too).
 */
export function alignColumns(xs, yss) {
  const x = Array.isArray(xs) ? xs : [];
  const cols = yss.map((ys) => (Array.isArray(ys) ? ys : []));
  const n = x.length;
  let sorted = true;
  let finite = true;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) finite = false;
    else if (i > 0 && !(v > x[i - 1])) sorted = false;
  }
  const yAt = (c, i) => {
    const v = c[i];
    return typeof v === 'number' && !Number.isNaN(v) ? v : null;
  };
  if (sorted && finite) {
    return { x: x.slice(), ys: cols.map((c) => Array.from({ length: n }, (_, i) => yAt(c, i))) };
  }
  const idx = [];
  for (let i = 0; i < n; i++) if (typeof x[i] === 'number' && Number.isFinite(x[i])) idx.push(i);
  idx.sort((a, b) => x[a] - x[b] || a - b);
  const keep = idx.filter((i, k) => k === idx.length - 1 || x[idx[k + 1]] !== x[i]);
  return { x: keep.map((i) => x[i]), ys: cols.map((c) => keep.map((i) => yAt(c, i))) };
}

// The logger and Keras's TensorBoard callback can both record `loss`: keep
// one series per (name, resolution), the logger's.
function preferLogger(series) {
  const byKey = new Map();
  for (const s of series) {
    const key = `${s.name}\u0000${s.resolution}`;
    const had = byKey.get(key);
    if (!had || (had.source === 'keras' && s.source === 'logger')) byKey.set(key, s);
  }
  return series.filter((s) => byKey.get(`${s.name}\u0000${s.resolution}`) === s);
}

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function emptyLr(run) {
  return {
    run,
    axis: 'step',
    optimizers: [],
    epochs: { epoch: [], step: [] },
    points: 0,
    shown: 0,
    downsampled: false,
    plans: {},
  };
}

export function emptyFinder(run) {
  return { run, tests: [] };
}

export function emptyLoss(run) {
  return { run, axis: 'step', monitor: null, series: [], epochs: { epoch: [], step: [] } };
}

/**
 * `fn` (async) run one at a time: a call while it runs returns that run and
 * asks for exactly one more after it, however many calls came.
 */
export function singleFlight(fn) {
  let inFlight = null;
  let again = false;
  const run = () => {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = fn().finally(() => {
      inFlight = null;
      if (again) {
        again = false;
        run();
      }
    });
    return inFlight;
  };
  return run;
}
