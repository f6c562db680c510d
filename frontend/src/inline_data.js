// The tab's second data backend: a report written by `tb-lr-audit --html`
// (or `tb_lr_plugin.report()` in a notebook) carries the routes' answers
// as JSON in a <script type="application/json"> element. This client has
// the interface of data.js's createClient() and parses through the same
// functions, so render() draws a report exactly as it draws the tab.
//
// The export (every recorded row) is inlined run-length encoded; the
// "CSV" and "JSON" buttons rebuild the export route's answer from it.

import {
  RouteError,
  emptyFinder,
  parseAudit,
  parseEvents,
  parseFinder,
  parseLoss,
  parseLr,
  parseRuns,
} from './data.js';

export const DATA_ELEMENT_ID = 'tb-lr-report-data';

/** The report's data: the JSON of the data element (null if absent or bad). */
export function readInlineData(doc = document) {
  const node = doc.getElementById(DATA_ELEMENT_ID);
  if (!node) return null;
  try {
    const data = JSON.parse(node.textContent);
    return data && typeof data === 'object' ? data : null;
  } catch {
    return null;
  }
}

/**
 * A data client over a report's inlined answers.
 *
 * @param {object} data the report's JSON: {runs, answers, export}.
 * @param {{save?: (name: string, text: string, type: string) => void}} options
 *   `save` offers a file for download (default: an <a download> of a Blob).
 */
export function createInlineClient(data, { save = saveFile } = {}) {
  const answers = data && typeof data.answers === 'object' && data.answers ? data.answers : {};
  const exports = data && typeof data.export === 'object' && data.export ? data.export : {};
  const answer = (route, run) => {
    const a = Object.prototype.hasOwnProperty.call(answers, run) ? answers[run] : null;
    if (!a || !a[route]) throw new RouteError(route, 404, `run ${JSON.stringify(run)} is not in this report`);
    return a[route];
  };
  const client = {
    async runs() {
      return parseRuns({ runs: data && Array.isArray(data.runs) ? data.runs : [] });
    },
    async lr(run) {
      return parseLr(answer('lr', run));
    },
    async loss(run) {
      return parseLoss(answer('loss', run));
    },
    async events(run) {
      return parseEvents(answer('events', run));
    },
    async audit(run) {
      return parseAudit(answer('audit', run));
    },
    async finder(run) {
      return parseFinder(answer('finder', run) || emptyFinder(run));
    },
    async runData(run, { audit: withAudit = true, finder: withFinder = false } = {}) {
      const [lr, loss, events, findings, finder] = await Promise.all([
        this.lr(run),
        this.loss(run),
        this.events(run),
        withAudit ? this.audit(run) : null,
        withFinder ? this.finder(run) : emptyFinder(run),
      ]);
      return {
        run,
        lr,
        loss,
        epochs: lr.epochs.epoch.length ? lr.epochs : loss.epochs,
        axis: lr.optimizers.length ? lr.axis : loss.axis,
        events,
        findings,
        finder: finder.tests,
        errors: [],
      };
    },
    // No URL to fetch: the export buttons call download() instead.
    exportUrl() {
      return '#';
    },
    /** Offers the export route's answer for `run` as a file. */
    download(run, format, fileName) {
      const optimizers = decodeExport(exports[run]);
      if (format === 'csv') save(fileName, exportCsv(run, optimizers), 'text/csv');
      else save(fileName, exportJson(run, optimizers, answers[run]), 'application/json');
    },
  };
  return client;
}

// ------------------------------------------------------------ the export

/** The inlined export of one run -> [{name, step, planned, actual}] of plain arrays. */
export function decodeExport(list) {
  return (Array.isArray(list) ? list : []).map((o) => ({
    name: String(o.name),
    step: expandSteps(o.step),
    planned: expandColumn(o.planned),
    actual: expandColumn(o.actual),
  }));
}

function expandSteps(runs) {
  const out = [];
  for (const [first, count] of Array.isArray(runs) ? runs : []) for (let i = 0; i < count; i++) out.push(first + i);
  return out;
}

function expandColumn(col) {
  const out = [];
  const values = col && Array.isArray(col.v) ? col.v : [];
  const counts = col && Array.isArray(col.n) ? col.n : [];
  for (let k = 0; k < values.length; k++) {
    const v = values[k] === 'inf' ? Infinity : values[k] === '-inf' ? -Infinity : values[k] === null ? NaN : values[k];
    for (let i = 0; i < counts[k]; i++) out.push(v);
  }
  return out;
}

/** The export route's CSV, byte for byte: `run,optimizer,step,planned,actual`. */
export function exportCsv(run, optimizers) {
  const lines = ['run,optimizer,step,planned,actual\n'];
  const runField = csvField(run);
  for (const o of optimizers) {
    const prefix = `${runField},${csvField(o.name)},`;
    for (let i = 0; i < o.step.length; i++) {
      lines.push(`${prefix}${o.step[i]},${csvFloat(o.planned[i])},${csvFloat(o.actual[i])}\n`);
    }
  }
  return lines.join('');
}

/** The export route's JSON: {run, optimizers: {name: {step, planned, actual}}, events}. */
export function exportJson(run, optimizers, answer) {
  const body = { run, optimizers: {}, events: answer && answer.events ? answer.events.events : [] };
  const finite = (v) => (Number.isFinite(v) ? v : null);
  for (const o of optimizers)
    body.optimizers[o.name] = { step: o.step, planned: o.planned.map(finite), actual: o.actual.map(finite) };
  return JSON.stringify(body);
}

function csvField(text) {
  return /[,"\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvFloat(v) {
  return Number.isNaN(v) ? '' : pythonRepr(v);
}

/**
 * Python's repr() of a float64: the shortest digits that read back (as
 * JavaScript's), laid out as Python does: positional for exponents -4 to
 * 15 with at least one decimal ("5.0"), else "1e-05" / "1.5e+16".
 */
export function pythonRepr(v) {
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Number.isNaN(v)) return 'nan';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const [mantissa, exp] = Math.abs(v).toExponential().split('e');
  const e = Number(exp);
  const digits = mantissa.replace('.', '');
  if (e < -4 || e >= 16) {
    const frac = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const mag = String(Math.abs(e)).padStart(2, '0');
    return `${sign}${frac}e${e < 0 ? '-' : '+'}${mag}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const intPart = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const fracPart = digits.slice(e + 1) || '0';
  return `${sign}${intPart}.${fracPart}`;
}

function saveFile(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
