// The run list of the sidebar.

import { el } from './dom.js';
import { formatStep } from './format.js';
import { runMatcher } from './compare.js';

/**
 * The run list: a filter box, "all shown" / "none", and one checkbox per
 * run. Built once per runs list; filtering only toggles `hidden`, so it
 * stays fast with hundreds of runs.
 *
 * @returns {{element: HTMLElement, setRuns(runs, selected, colours): void, setColours(colours): void}}
 */
export function createRunSelector({ onChange, onFilter = () => {} }) {
  return new RunSelector(onChange, onFilter);
}

class RunSelector {
  constructor(onChange, onFilter) {
    this.onChange = onChange;
    this.onFilter = onFilter;
    this.filterText = '';
    this.rows = [];
    this.selected = new Set();
    Object.assign(this, selectorDom());
    const pick = (update) => {
      update();
      this.sync();
      this.onChange(new Set(this.selected));
    };
    onControls(this, {
      filter: (text) => {
        this.filterText = text;
        this.applyFilter();
        this.onFilter(text);
      },
      all: () => pick(() => this.rows.forEach((r) => !r.row.hidden && this.selected.add(r.run))),
      none: () => pick(() => this.selected.clear()),
    });
  }

  /** Lists `runs` with `sel` checked; keeps the filter and the scroll position. */
  setRuns(runs, sel, colours) {
    this.selected = new Set(sel);
    const scroll = this.list.scrollTop;
    this.list.textContent = '';
    const toggle = (run, on) => {
      if (on) this.selected.add(run);
      else this.selected.delete(run);
      this.updateCount();
      this.onChange(new Set(this.selected));
    };
    this.rows = runs.map((r) => {
      const row = runRow(r, this.selected.has(r.run), toggle);
      this.list.append(row.row);
      return row;
    });
    this.setColours(colours);
    this.applyFilter();
    this.list.scrollTop = scroll;
  }

  /** Each selected run's swatch in its chart colour (`colours`: shape.assignColours). */
  setColours(colours) {
    for (const r of this.rows) {
      const c = colours && colours.get(r.run);
      r.swatch.style.background = c && this.selected.has(r.run) ? c.run : 'transparent';
    }
  }

  applyFilter() {
    const match = matcher(this.filterText, this.filter);
    let shown = 0;
    for (const r of this.rows) {
      r.row.hidden = !match(r.run);
      if (!r.row.hidden) shown++;
    }
    this.updateCount(shown);
  }

  updateCount(shown = this.rows.filter((r) => !r.row.hidden).length) {
    this.count.textContent = `${this.selected.size} selected · ${shown} of ${this.rows.length} shown`;
  }

  sync() {
    for (const r of this.rows) r.box.checked = this.selected.has(r.run);
    this.updateCount();
  }
}

// A filter (compare.runMatcher); the box says when its text is no regex.
function matcher(text, input) {
  const { test, valid } = runMatcher(text);
  input.classList.toggle('lr-filter--bad', !valid);
  return test;
}

// One run's row: checkbox, colour swatch, name and what it holds.
function runRow(r, checked, toggle) {
  const box = el('input', { attrs: { type: 'checkbox' } });
  box.checked = checked;
  box.addEventListener('change', () => toggle(r.run, box.checked));
  const swatch = el('span', { cls: 'lr-swatch' });
  const name = el('span', { cls: 'lr-run-name', text: r.run });
  name.title = r.run;
  const meta = el('span', { cls: 'lr-muted lr-run-meta', text: runMeta(r).join(' · ') });
  const row = el('li', { cls: 'lr-run' }, [
    el('label', {}, [box, swatch, el('span', { cls: 'lr-run-text' }, [name, meta])]),
  ]);
  row.dataset.run = r.run;
  if (r.limits && r.limits.length) row.title = `Not in these logs: ${r.limits.join('; ')}`;
  return { run: r.run, row, box, swatch };
}

function runMeta(r) {
  return [
    r.steps != null ? `${formatStep(r.steps)} steps` : null,
    r.epochs != null && (r.epochs || !r.finder) ? `${formatStep(r.epochs)} epochs` : null,
    r.events ? `${r.events} events` : null,
    r.finder ? `${r.finder} LR range test${r.finder === 1 ? '' : 's'}` : null,
    SOURCE_LABELS[r.source] || null,
  ].filter(Boolean);
}

// Where a run's LR came from when our callbacks did not write it; the
// run's `limits` (what that source cannot know) go in the row's tooltip.
const SOURCE_LABELS = {
  keras: 'Keras TensorBoard only',
  keras2: 'Keras 2 TensorBoard',
  lightning: 'Lightning LearningRateMonitor',
  huggingface: 'Hugging Face Trainer',
  scalars: 'plain scalars',
};

// Wires the filter box (debounced) and the two buttons.
function onControls({ filter, all, none }, handle) {
  let timer = null;
  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => handle.filter(filter.value), 80);
  });
  all.addEventListener('click', handle.all);
  none.addEventListener('click', handle.none);
}

// The section: title, filter box, "All shown" / "None" and the count, the list.
function selectorDom() {
  const filter = el('input', {
    cls: 'lr-filter',
    attrs: { type: 'search', placeholder: 'Filter runs (regex)', 'aria-label': 'Filter runs', spellcheck: 'false' },
  });
  const count = el('div', { cls: 'lr-muted lr-run-count' });
  const list = el('ul', { cls: 'lr-run-list', attrs: { role: 'list' } });
  const all = el('button', { cls: 'lr-button lr-button--flat', text: 'All shown', attrs: { type: 'button' } });
  const none = el('button', { cls: 'lr-button lr-button--flat', text: 'None', attrs: { type: 'button' } });
  const element = el('section', { cls: 'lr-runs' }, [
    el('h2', { cls: 'lr-side-title', text: 'Runs' }),
    filter,
    el('div', { cls: 'lr-run-actions' }, [all, none, count]),
    list,
  ]);
  return { filter, count, list, all, none, element };
}
