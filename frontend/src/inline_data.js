// The tab's second data backend: a report written by `tb-lr-audit --html`
// (or `tb_lr_plugin.report()` in a notebook) carries the routes' answers
// as JSON in a <script type="application/json"> element. inlineTransport()
// answers data.js's transport interface from it, so the same client parses
// the same answers and render() draws a report exactly as it draws the tab.
//
// The export (every recorded row) is inlined run-length encoded; the
// "CSV" and "JSON" buttons rebuild the export route's answer from it.

import { RouteError } from './data.js';

export const DATA_ELEMENT_ID = 'tb-lr-report-data';
const ROUTES = ['lr', 'loss', 'events', 'audit', 'finder'];

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
 * A transport (see data.createClient) over a report's inlined answers.
 *
 * @param {object} data the report's JSON: {runs, answers, export}.
 * @param {{save?: (name: string, text: string, type: string) => void}} options
 *   `save` offers a file for download (default: an <a download> of a Blob).
 */
export function inlineTransport(data, { save = saveFile } = {}) {
  const own = (obj, key) => (obj && typeof obj === 'object' && Object.hasOwn(obj, key) ? obj[key] : null);
  const answers = own(data, 'answers') || {};
  const exports = own(data, 'export') || {};
  return {
    async get(route, params) {
      if (route === 'runs') return { runs: Array.isArray(own(data, 'runs')) ? data.runs : [] };
      const run = params && params.run;
      const body = ROUTES.includes(route) ? own(own(answers, run), route) : null;
      if (!body) throw new RouteError(route, 404, `run ${JSON.stringify(run)} is not in this report`);
      return body;
    },
    // No URL to fetch: the export buttons call download() instead.
    exportUrl() {
      return '#';
    },
    /** Offers the export route's answer for `run` as the file `fileName`. */
    download(run, format, fileName) {
      const optimizers = decodeExport(own(exports, run));
      if (format === 'csv') save(fileName, exportCsv(run, optimizers), 'text/csv');
      else save(fileName, exportJson(run, optimizers, own(answers, run)), 'application/json');
    },
  };
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

// `{f32: items}`: float32 bit-pattern differences; `{f64: items}`: float64
// values (null: NaN, "inf"/"-inf"). An item is a value or [value, count].
// See html_report.encode_column.
function expandColumn(col) {
  if (col && Array.isArray(col.f32)) {
    const deltas = expandRepeats(col.f32, Number);
    const bits = new Int32Array(deltas.length);
    let b = 0;
    for (let i = 0; i < deltas.length; i++) bits[i] = b = (b + deltas[i]) | 0;
    return Array.from(new Float32Array(bits.buffer));
  }
  const value = (v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === null ? NaN : v);
  return expandRepeats(col && col.f64, value);
}

function expandRepeats(items, convert) {
  const out = [];
  for (const item of Array.isArray(items) ? items : []) {
    const [v, n] = Array.isArray(item) ? item : [item, 1];
    const x = convert(v);
    for (let i = 0; i < n; i++) out.push(x);
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
