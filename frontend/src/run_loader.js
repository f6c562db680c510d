// The selected runs' data: one `view` request for many runs (the plugin's
// batched route), and each run's own routes where there is no `view` (a
// report's inlined answers) or it failed (a run gone since the listing),
// so one bad run never hides the others.

import {
  asRouteError,
  assembleRunData,
  emptyFinder,
  parseAudit,
  parseEvents,
  parseFinder,
  parseLoss,
  parseLr,
} from './data.js';

// The most runs one `view` request names (the plugin's view.MAX_RUNS).
export const VIEW_CHUNK = 100;
// What the first draw needs of each run.
const FIRST = ['lr', 'loss', 'events'];
const PARSE = { lr: parseLr, loss: parseLoss, events: parseEvents, audit: parseAudit, finder: parseFinder };

/**
 * The data of `runs` as client.runData gives it, without the findings
 * (null: loadAudits fetches them after the draw).
 *
 * @param {object} client data.createClient()
 * @param {string[]} runs
 * @param {{finder?: Set<string>, points?: number|null, early?: object}} options
 *   `finder`: the runs with LR range tests; `points`: the most points per
 *   series (the small-multiples grid asks for fewer), null for the routes'
 *   default; `early`: a prefetchView() of these runs.
 * @returns {Promise<Map<string, object>>} run -> data, `points` kept on each.
 */
export async function loadRunDatas(client, runs, { finder = new Set(), points = null, early = null } = {}) {
  const out = new Map();
  const usable = early && early.points === points && runs.length === early.runs.length;
  const byEarly = usable && runs.every((r, i) => r === early.runs[i]) ? early.items : null;
  await Promise.all(
    chunks(runs).map(async (chunk) => {
      const items = await (byEarly || viewOrNull(client, chunk, { parts: FIRST, points }));
      const finders = new Map(chunk.filter((r) => finder.has(r)).map((r) => [r, settle(client.finder(r))]));
      await Promise.all(
        chunk.map(async (run) => {
          const item = items && items.get(run);
          const tests = finders.has(run) ? await finders.get(run) : fulfilled(emptyFinder(run));
          const d = item
            ? assembleRunData(run, { ...parts(item, FIRST), audit: fulfilled(null), finder: tests })
            : await client.runData(run, { audit: false, finder: finders.has(run) });
          d.points = item ? points : null;
          out.set(run, d);
        }),
      );
    }),
  );
  return out;
}

/**
 * The `view` request of a saved selection, sent with the `runs` listing
 * before anything is built; loadRunDatas({early}) takes its answer when
 * it asks for the same runs and points.
 *
 * @returns {{runs: string[], points: number|null, items: Promise<Map|null>}|null}
 */
export function prefetchView(client, runs, points) {
  if (!client.batched || !runs.length || runs.length > VIEW_CHUNK) return null;
  return { runs: [...runs], points, items: viewOrNull(client, runs, { parts: FIRST, points }) };
}

/**
 * The findings of `runs`: one `view?part=audit` request per chunk, each
 * run's `audit` route where that fails.
 *
 * @returns {Promise<Map<string, {findings: object[], error: object|null}>>}
 */
export async function loadAudits(client, runs) {
  const out = new Map();
  await Promise.all(
    chunks(runs).map(async (chunk) => {
      const items = await viewOrNull(client, chunk, { parts: ['audit'] });
      await Promise.all(
        chunk.map(async (run) => {
          const item = items && items.get(run);
          if (item) {
            out.set(run, { findings: parseAudit(item.audit), error: null });
            return;
          }
          const got = await settle(client.audit(run));
          out.set(run, {
            findings: got.status === 'fulfilled' ? got.value : [],
            error: got.status === 'fulfilled' ? null : asRouteError(got.reason),
          });
        }),
      );
    }),
  );
  return out;
}

/** Whether `d` (a loaded run's data, or undefined) must be fetched again for `points`. */
export function needsLoad(d, points) {
  if (!d) return true;
  if (d.points === null || d.points === undefined) return false; // the full default: enough for all
  return points === null || d.points < points;
}

// run -> the view answer's item, or null: no `view`, or it failed.
async function viewOrNull(client, runs, options) {
  if (!client.batched || !runs.length) return null;
  try {
    const items = await client.view(runs, options);
    const byRun = new Map();
    for (const item of items) if (item && typeof item.run === 'string') byRun.set(item.run, item);
    return byRun;
  } catch {
    return null;
  }
}

function parts(item, names) {
  const out = {};
  for (const name of names) out[name] = fulfilled(PARSE[name](item[name]));
  return out;
}

function chunks(runs) {
  const out = [];
  for (let i = 0; i < runs.length; i += VIEW_CHUNK) out.push(runs.slice(i, i + VIEW_CHUNK));
  return out;
}

const fulfilled = (value) => ({ status: 'fulfilled', value });
const settle = (promise) =>
  promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason) => ({ status: 'rejected', reason }),
  );
