// The Learning Rate tab. TensorBoard loads this module in an iframe
// (data/plugin_entry.html sets <base href="plugin/learning_rate/">) and calls
// render(); the demo page calls render({fetch}) with saved responses.

import css from './style.css';
import { CHART_CSS } from './plot.js';
import { createCharts } from './training_charts.js';
import { createFinderChart } from './finder_chart.js';
import { adoptStarted, createClient, singleFlight } from './data.js';
import { firstView, pointsFor } from './first_view.js';
import { nextSelection } from './selection.js';
import { loadAudits, loadRunDatas, needsLoad, prefetchView } from './run_loader.js';
import { listenForReload, watchTheme } from './host.js';
import { assignColours, buildFinderView, buildView, convertRange, eventX, zoomAround } from './shape.js';
import { makeEpochMap } from './axis.js';
import { el, injectStyle } from './dom.js';
import { createRunSelector } from './run_selector.js';
import { hyperPanel } from './hyper_panel.js';
import { createComparison } from './comparison.js';
import { loadState, saveState } from './storage.js';
import {
  createToolbar,
  detailCards,
  diagnosisPanel,
  emptyState,
  errorState,
  eventTable,
  exportLinks,
  finderSummary,
} from './views.js';

/**
 * Renders the tab.
 *
 * @param {{root?: HTMLElement, fetch?: typeof fetch, transport?: object, pollMs?: number, host?: boolean}} options
 *   `transport` replaces the HTTP routes (data.createClient says how; a
 *   transport with `download(run, format, fileName)` builds the export
 *   files itself: a report's inlined data); `host: false`: not inside
 *   TensorBoard, so no reload messages to listen for; `started`: the first
 *   request, sent by entry.js before this module was loaded.
 * @returns {Promise<object>} the app (the demo page and tests poke at it).
 */
export async function render(options = {}) {
  const app = new App({
    root: options.root || document.body,
    client: createClient(options.transport || adoptStarted(options.started || null, options.fetch)),
    pollMs: options.pollMs ?? 30000,
    host: options.host !== false,
    download: options.transport && options.transport.download ? options.transport.download : null,
  });
  await app.start();
  return app;
}

class App {
  constructor({ root, client, pollMs, host, download }) {
    this.root = root;
    this.host = host;
    this.download = download;
    this.client = client;
    this.pollMs = pollMs;
    const saved = loadState();
    this.state = {
      runs: null,
      selected: saved.selected ? new Set(saved.selected) : null,
      axis: saved.axis === 'epoch' ? 'epoch' : 'step',
      lossLog: Boolean(saved.lossLog),
      multiples: Boolean(saved.multiples),
      range: null,
      highlight: null, // the run the run table highlights in the charts
      filter: '',
      thisRunOnly: false,
    };
    this.cache = new Map(); // run -> runData
    this.view = null;
    this.rowsByEvent = new Map();
    // One refresh at a time; asked for during one, one more follows it.
    this.refresh = singleFlight(() => this.doRefresh());
    this.lastRefresh = 0;
    this.generation = 0;
  }

  async start() {
    // Ask for the runs before building anything: the answer is what the
    // first draw waits for.
    // With the view of the saved selection (or of the first runs) where
    // the routes allow: then one request is all the first draw waits for.
    const saved = this.state.selected ? [...this.state.selected] : null;
    const first = firstView({ selected: saved, multiples: this.state.multiples });
    this.early = first && prefetchView(this.client, first.runs, first.points);
    this.prefetch = this.early ? this.early.listing.catch(() => this.client.runs()) : this.client.runs();
    this.prefetch.catch(() => {});
    injectStyle(CHART_CSS + css);
    document.documentElement.classList.add('lr-doc');
    this.theme = watchTheme((t) => {
      this.applyTheme(t);
      this.draw();
    });
    this.buildLayout();
    this.applyTheme(this.theme.current());
    this.stopReload = this.host ? listenForReload(() => this.refresh()) : () => {};
    await this.refresh();
    if (this.pollMs > 0) {
      this.timer = setInterval(() => {
        const due = Date.now() - this.lastRefresh > this.pollMs * 0.8;
        if (due && !document.hidden) this.refresh();
      }, this.pollMs);
    }
  }

  applyTheme(t) {
    document.documentElement.classList.toggle('lr-dark', t.name === 'dark');
    if (this.charts) this.charts.rebuild();
    if (this.finderChart) this.finderChart.rebuild();
  }

  buildLayout() {
    this.root.textContent = '';
    this.selector = createRunSelector({
      onChange: (sel) => this.onSelection(sel),
      onFilter: (text) => {
        this.state.filter = text;
        this.draw();
      },
    });
    this.toolbar = createToolbar({
      onAxis: (axis) => this.setAxis(axis),
      onLossLog: (on) => {
        this.state.lossLog = on;
        this.save();
        this.draw();
      },
      onResetZoom: () => {
        this.state.range = null;
        this.charts.setRange(null);
        this.comparison.resetZoom();
      },
      onRefresh: () => this.refresh(),
      onMultiples: (on) => {
        this.state.multiples = on;
        this.save();
        this.loadRuns([...this.state.selected], false); // the grid's fewer points, or all again
        this.draw();
      },
    });
    this.banner = el('div', { cls: 'lr-banner', attrs: { role: 'status' } });
    this.notes = el('div', { cls: 'lr-notes lr-muted' });
    this.message = el('div', { cls: 'lr-message' });
    this.chartHost = el('div', { cls: 'lr-charts' });
    this.finderHost = el('div', { cls: 'lr-charts lr-finder' });
    this.finderText = el('div', { cls: 'lr-finder-text' });
    this.finderHost.hidden = true;
    this.hyperHost = el('div', { cls: 'lr-hyper-host' });
    Object.assign(
      this,
      detailCards((on) => {
        this.state.thisRunOnly = on;
        this.drawDetails();
      }),
    );
    this.comparison = createComparison({
      theme: () => this.theme.current(),
      onHighlight: (run) => this.setHighlight(run),
    });
    const { tableCard, legendHost, gridHost } = this.comparison;
    this.content = el('div', { cls: 'lr-content' }, [
      this.notes,
      tableCard,
      legendHost,
      this.chartHost,
      this.hyperHost,
      gridHost,
      this.finderHost,
      this.details,
    ]);
    this.main = el('main', { cls: 'lr-main' }, [this.toolbar.element, this.banner, this.message, this.content]);
    this.sidebar = el('aside', { cls: 'lr-sidebar' }, [this.selector.element]);
    this.app = el('div', { cls: 'lr-app', attrs: { 'data-state': 'loading' } }, [this.sidebar, this.main]);
    this.root.append(this.app);
    this.message.append(el('p', { cls: 'lr-muted', text: 'Loading…' }));
    this.content.hidden = true;
    this.toolbar.element.hidden = true;
    this.createCharts();
  }

  createCharts() {
    this.charts = createCharts(this.chartHost, {
      theme: () => this.theme.current(),
      onRange: (range) => {
        this.state.range = range;
        this.toolbar.set(this.toolbarState());
      },
      onMarkerClick: (m) => this.highlight(m.event),
    });
    this.finderChart = createFinderChart(this.finderHost, {
      theme: () => this.theme.current(),
      caption: this.finderText,
    });
  }

  /** Reloads the runs and the selected runs' data; keeps zoom and selection. */
  async doRefresh() {
    this.lastRefresh = Date.now();
    this.toolbar.setStatus('Loading…');
    let runs;
    try {
      const prefetched = this.prefetch;
      this.prefetch = null;
      runs = await (prefetched || this.client.runs());
    } catch (e) {
      if (this.state.runs && this.state.runs.length) {
        this.setBanner([e]);
        this.toolbar.setStatus('Update failed');
      } else {
        this.showState(
          'error',
          errorState([e], () => this.refresh()),
        );
        this.toolbar.setStatus('');
      }
      return;
    }
    const before = this.state.runs;
    this.state.runs = runs;
    if (!runs.length) {
      this.selector.setRuns([], new Set(), null);
      this.showState('empty', emptyState());
      this.toolbar.setStatus(`Updated ${new Date().toLocaleTimeString()}`);
      return;
    }
    const names = new Set(runs.map((r) => r.run));
    this.state.selected = new Set(nextSelection(runs, this.state.selected, before));
    this.selector.setRuns(runs, this.state.selected, null);
    for (const run of this.cache.keys()) if (!names.has(run)) this.cache.delete(run);
    await this.loadRuns([...this.state.selected], true);
    this.toolbar.setStatus(`Updated ${new Date().toLocaleTimeString()}`);
  }

  async loadRuns(runs, force) {
    const gen = ++this.generation;
    const points = this.pointsFor(runs.length);
    const todo = runs.filter((r) => force || needsLoad(this.cache.get(r), points));
    // The charts first; the audit (only the diagnosis panel needs it) after.
    const finder = new Set((this.state.runs || []).filter((r) => r.finder > 0).map((r) => r.run));
    const early = this.early;
    this.early = null;
    const results = await loadRunDatas(this.client, todo, { finder, points, early });
    for (const d of results.values()) {
      const had = this.cache.get(d.run);
      d.findings = had ? had.findings : null;
      this.cache.set(d.run, d);
    }
    if (gen === this.generation || force) this.draw();
    for (const [run, a] of await loadAudits(this.client, todo)) {
      const d = this.cache.get(run);
      if (!d) continue;
      d.findings = a.findings;
      d.errors = d.errors.filter((e) => e.route !== 'audit');
      if (a.error) d.errors.push(a.error);
    }
    this.drawDiagnosis();
    this.drawComparison();
  }

  /** The points per series to ask for `count` runs: fewer in the grid or with many runs on a chart. */
  pointsFor(count) {
    return pointsFor(this.state.multiples, count);
  }

  onSelection(selected) {
    this.state.selected = selected;
    this.save();
    this.loadRuns([...selected], false);
    this.draw();
  }

  setAxis(axis) {
    const drawn = this.axis();
    this.state.axis = axis;
    if (axis === drawn) return;
    const first = this.selectedData()[0];
    this.state.range = convertRange(this.state.range, drawn, axis, first && first.epochs);
    this.state.axis = axis;
    this.save();
    this.draw();
  }

  selectedData() {
    if (!this.state.runs) return [];
    return this.state.runs
      .filter((r) => this.state.selected.has(r.run) && this.cache.has(r.run))
      .map((r) => this.cache.get(r.run));
  }

  /** The axis drawn: the user's choice, unless no selected run can be drawn on it. */
  axis() {
    const datas = this.selectedData();
    if (this.state.axis === 'step' && datas.length && datas.every((d) => d.axis === 'epoch')) return 'epoch';
    return this.state.axis;
  }

  toolbarState() {
    const datas = this.selectedData();
    return {
      axis: this.axis(),
      lossLog: this.state.lossLog,
      multiples: this.state.multiples,
      multiplesAvailable: datas.length >= 2,
      zoomed: Boolean(this.state.range),
      epochAvailable: datas.some((d) => makeEpochMap(d.epochs)),
      stepAvailable: !datas.length || datas.some((d) => d.axis !== 'epoch'),
    };
  }

  showState(name, node) {
    this.app.dataset.state = name;
    this.message.textContent = '';
    if (node) this.message.append(node);
    this.content.hidden = name !== 'ready';
    this.toolbar.element.hidden = name !== 'ready' && name !== 'none';
  }

  setBanner(errors) {
    this.banner.textContent = '';
    this.banner.classList.toggle('lr-banner--error', errors.length > 0);
    if (!errors.length) return;
    this.banner.append(
      el('strong', { text: 'Some data could not be loaded: ' }),
      el(
        'ul',
        {},
        errors.map((e) => el('li', { text: typeof e.describe === 'function' ? e.describe() : String(e) })),
      ),
    );
  }

  draw() {
    if (!this.state.runs || !this.state.runs.length || !this.charts) return;
    const datas = this.selectedData();
    this.toolbar.set(this.toolbarState());
    if (!this.state.selected.size) {
      this.showState('none', el('p', { cls: 'lr-muted lr-hint', text: 'Select one or more runs on the left.' }));
      this.setBanner([]);
      return;
    }
    if (!datas.length) return; // still loading the selection
    const colours = assignColours(datas);
    this.selector.setColours(colours);
    const axis = this.axis();
    if (this.state.highlight && !datas.some((d) => d.run === this.state.highlight)) this.state.highlight = null;
    const { highlight, lossLog } = this.state;
    const view = buildView(datas, { axis, lossLog, highlight });
    this.view = view;
    this.showState('ready');
    this.notes.textContent = view.notes.join(' · ');
    const grid = this.state.multiples && datas.length >= 2;
    this.chartHost.hidden = grid;
    this.comparison.legendHost.hidden = grid;
    if (!grid) this.charts.update(view, this.state.range);
    this.hyperHost.hidden = grid;
    if (!grid) this.drawHyper(datas);
    this.app.dataset.highlight = highlight || '';
    this.drawComparison();
    this.comparison.drawGrid({ on: grid, datas, axis, lossLog, colours });
    this.app.dataset.axis = axis;
    const finder = buildFinderView(datas);
    // A run with only a range test: no empty loss and LR charts above it.
    if (!grid) this.chartHost.hidden = view.empty && finder.tests.length > 0;
    this.finderText.textContent = '';
    this.finderText.append(finderSummary(finder.tests));
    this.finderChart.update(finder);
    // The charts first: the tables under them are built in the next task,
    // after uPlot's first commit (a microtask), whose layout then leaves them out.
    clearTimeout(this.detailsTimer);
    this.app.dataset.details = 'pending'; // what drivers and tests wait on
    this.detailsTimer = setTimeout(() => this.drawDetails(), 0);
  }

  /** Momentum, betas and weight decay, where the source logged them. */
  drawHyper(datas) {
    const panel = hyperPanel(
      datas.map((d) => ({ run: d.run, hyper: d.lr.hyper || [] })),
      { showRun: datas.length > 1 },
    );
    this.hyperHost.textContent = '';
    if (panel) this.hyperHost.append(panel);
    this.hyperHost.hidden = !panel;
  }

  /** The event table, the diagnosis and the export links. */
  drawDetails() {
    const datas = this.selectedData();
    if (!datas.length || !this.view) return;
    const { highlight, thisRunOnly } = this.state;
    this.onlyRunBox.disabled = !highlight;
    this.onlyRunText.textContent = highlight ? `${highlight} only` : 'this run only (highlight one)';
    const listed = highlight && thisRunOnly ? datas.filter((d) => d.run === highlight) : datas;
    const showRun = listed.length > 1;
    this.rowsByEvent = new Map();
    const onPick = (run, item, node) => this.zoomTo(run, item, node);
    const table = eventTable(
      listed.map((d) => ({ run: d.run, events: d.events })),
      { onPick, showRun },
    );
    this.eventsBody.textContent = '';
    this.eventsBody.append(table);
    const rows = table.querySelectorAll ? table.querySelectorAll('tbody tr') : [];
    let i = 0;
    for (const d of listed) for (const e of d.events) this.rowsByEvent.set(e, rows[i++]);
    this.drawDiagnosis();
    this.exportBody.textContent = '';
    this.exportBody.append(
      exportLinks(
        datas.map((d) => d.run),
        (run, f) => this.client.exportUrl(run, f),
        this.download,
      ),
    );
    this.app.dataset.details = 'drawn';
  }

  drawDiagnosis() {
    const datas = this.selectedData();
    if (!datas.length || !this.view) return;
    this.setBanner(datas.flatMap((d) => d.errors.map((e) => withRun(e, d.run))));
    this.diagBody.textContent = '';
    if (datas.some((d) => d.findings === null)) {
      this.diagBody.append(el('p', { cls: 'lr-muted', text: 'Loading the diagnosis…' }));
      return;
    }
    const onPick = (run, item, node) => this.zoomTo(run, item, node);
    const perRun = datas.map((d) => ({ run: d.run, findings: d.findings }));
    this.diagBody.append(diagnosisPanel(perRun, { onPick, showRun: datas.length > 1 }));
  }

  zoomTo(run, item, node) {
    const d = this.cache.get(run);
    if (!d || !this.view) return;
    const x = eventX(item, this.axis(), makeEpochMap(d.epochs));
    if (x === null || !Number.isFinite(x)) return;
    const range = zoomAround(x, this.view.extent, this.view.unitsPerEpoch);
    this.state.range = range;
    this.charts.setRange(range);
    for (const n of this.root.querySelectorAll('.lr-active')) n.classList.remove('lr-active');
    if (node) node.classList.add('lr-active');
  }

  /** The run table and the legend (again once the findings are in). */
  drawComparison() {
    const datas = this.selectedData();
    if (!datas.length || !this.view) return;
    const runs = this.state.runs.filter((r) => this.state.selected.has(r.run));
    const { highlight, filter } = this.state;
    this.comparison.draw({ runs, datas, view: this.view, colours: assignColours(datas), highlight, filter });
  }

  /** Highlights `run` in the charts and the tables (null: none). */
  setHighlight(run) {
    this.state.highlight = run;
    this.draw();
  }

  highlight(event) {
    const row = this.rowsByEvent.get(event);
    if (!row) return;
    for (const n of this.root.querySelectorAll('.lr-active')) n.classList.remove('lr-active');
    row.classList.add('lr-active');
    row.scrollIntoView({ block: 'nearest' });
  }

  save() {
    saveState({
      selected: this.state.selected ? [...this.state.selected] : null,
      axis: this.state.axis,
      lossLog: this.state.lossLog,
      multiples: this.state.multiples,
    });
  }

  destroy() {
    clearInterval(this.timer);
    clearTimeout(this.detailsTimer);
    this.theme.stop();
    this.stopReload();
    this.charts.destroy();
    this.finderChart.destroy();
    this.comparison.destroy();
    this.root.textContent = '';
  }
}

function withRun(e, run) {
  const text = typeof e.describe === 'function' ? e.describe() : String(e);
  return { describe: () => `${run} — ${text}` };
}
