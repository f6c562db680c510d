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

import { FIRST_PARTS as FIRST, VIEW_CHUNK } from './first_view.js';

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
  const got = early && early.points === points ? await early.done : null;
  const same = got && got.runs.length === runs.length && runs.every((r, i) => r === got.runs[i]);
  const byEarly = same ? Promise.resolve(got.items) : null;
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
          d.asked = points ?? null; // what a refresh asks again (needsLoad)
          out.set(run, d);
        }),
      );
    }),
  );
  return out;
}

/**
 * The first request of the tab: the `view` of the saved selection (run
 * names), or of the listing's first `runs` runs (a number), with the
 * listing itself, before anything is built. loadRunDatas({early}) takes
 * its answer when it asks for the same runs and points.
 *
 * @returns {{points: number|null, listing: Promise<object[]>, done: Promise<object|null>}|null}
 *   `listing`: the `runs` route's list (rejects when the request failed);
 *   `done`: {runs, items} or null. Null without the `view` route.
 */
export function prefetchView(client, runs, points) {
  const many = Array.isArray(runs) ? runs.length : runs;
  if (!client.batched || !many || many > VIEW_CHUNK) return null;
  const request = client.view(runs, { parts: FIRST, points, listing: true });
  const done = request.then(
    ({ items }) => ({ runs: items.map((item) => item && item.run), items: byRun(items) }),
    () => null,
  );
  return { points, listing: request.then((answer) => answer.listing), done };
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

/**
 * Whether `d` (a loaded run's data, or undefined) must be fetched again for `points`.
 * Any other budget is fetched again, fewer points too: the thinning decides how a
 * series is drawn (stepped or not), so a refresh must find what is on screen.
 */
export function needsLoad(d, points) {
  if (!d) return true;
  return (d.asked ?? null) !== (points ?? null);
}

// run -> the view answer's item, or null: no `view`, or it failed.
async function viewOrNull(client, runs, options) {
  if (!client.batched || !runs.length) return null;
  try {
    return byRun((await client.view(runs, options)).items);
  } catch {
    return null;
  }
}

function byRun(items) {
  const out = new Map();
  for (const item of items) if (item && typeof item.run === 'string') out.set(item.run, item);
  return out;
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
