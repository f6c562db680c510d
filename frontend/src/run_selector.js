// The run list of the sidebar.

import { el } from './dom.js';
import { formatStep } from './format.js';

/**
 * The run list: a filter box, "all shown" / "none", and one checkbox per
 * run. Built once per runs list; filtering only toggles `hidden`, so it
 * stays fast with hundreds of runs.
 *
 * @returns {{element: HTMLElement, setRuns(runs, selected, colours): void, setColours(colours): void}}
 */
export function createRunSelector({ onChange }) {
  let filterText = '';
  let rows = [];
  let selected = new Set();
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

  let timer = null;
  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      filterText = filter.value;
      applyFilter();
    }, 80);
  });
  all.addEventListener('click', () => {
    for (const r of rows) if (!r.row.hidden) selected.add(r.run);
    sync();
    onChange(new Set(selected));
  });
  none.addEventListener('click', () => {
    selected.clear();
    sync();
    onChange(new Set(selected));
  });

  function applyFilter() {
    const match = matcher(filterText, filter);
    let shown = 0;
    for (const r of rows) {
      r.row.hidden = !match(r.run);
      if (!r.row.hidden) shown++;
    }
    updateCount(shown);
  }

  function updateCount(shown = rows.filter((r) => !r.row.hidden).length) {
    count.textContent = `${selected.size} selected · ${shown} of ${rows.length} shown`;
  }

  function sync() {
    for (const r of rows) r.box.checked = selected.has(r.run);
    updateCount();
  }

  return {
    element,
    setRuns(runs, sel, colours) {
      selected = new Set(sel);
      const scroll = list.scrollTop;
      list.textContent = '';
      const toggle = (run, on) => {
        if (on) selected.add(run);
        else selected.delete(run);
        updateCount();
        onChange(new Set(selected));
      };
      rows = runs.map((r) => {
        const row = runRow(r, selected.has(r.run), toggle);
        list.append(row.row);
        return row;
      });
      this.setColours(colours);
      applyFilter();
      list.scrollTop = scroll;
    },
    setColours(colours) {
      for (const r of rows) {
        const c = colours && colours.get(r.run);
        r.swatch.style.background = c && selected.has(r.run) ? c.run : 'transparent';
      }
    },
  };
}

// A filter: a case-insensitive regex, or plain text when it is none (the box then says so).
function matcher(text, input) {
  if (!text) return () => true;
  try {
    const re = new RegExp(text, 'i');
    input.classList.remove('lr-filter--bad');
    return (s) => re.test(s);
  } catch {
    input.classList.add('lr-filter--bad');
    const needle = text.toLowerCase();
    return (s) => s.toLowerCase().includes(needle);
  }
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
  return { run: r.run, row, box, swatch };
}

function runMeta(r) {
  return [
    r.steps != null ? `${formatStep(r.steps)} steps` : null,
    r.epochs != null && (r.epochs || !r.finder) ? `${formatStep(r.epochs)} epochs` : null,
    r.events ? `${r.events} events` : null,
    r.finder ? `${r.finder} LR range test${r.finder === 1 ? '' : 's'}` : null,
    r.source === 'keras' ? 'Keras TensorBoard only' : null,
  ].filter(Boolean);
}
