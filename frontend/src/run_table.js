// The run table above the charts: one row per selected run (compare.runRow),
// sortable by any column, filtered by the run selector's box; a click on a
// row highlights that run in the charts, a second click clears it.

import { el, onActivate } from './dom.js';
import { formatEpoch, formatLR, formatStep, formatValue } from './format.js';
import { COLUMNS, filterRows, sortRows } from './compare.js';

/**
 * @param {{onPick: (run: string|null) => void}} options
 * @returns {{element: HTMLElement, update(rows, {colours, highlight, filter}): void}}
 */
export function createRunTable({ onPick }) {
  const sort = { key: null, dir: 1 };
  const element = el('div', { cls: 'lr-table-wrap lr-runtable-wrap' });
  let last = null;
  function draw() {
    if (!last) return;
    const { rows, colours, highlight, filter } = last;
    let shown = filterRows(rows, filter);
    if (sort.key) shown = sortRows(shown, sort.key, sort.dir);
    const columns = COLUMNS.filter((c) => c.key !== 'source' || rows.some((r) => r.source));
    const head = el(
      'tr',
      {},
      columns.map((c) => headCell(c, sort, columns, rows, () => draw())),
    );
    const body = el(
      'tbody',
      {},
      shown.map((r) => bodyRow(r, columns, colours, highlight, onPick)),
    );
    element.textContent = '';
    element.append(el('table', { cls: 'lr-table lr-runtable' }, [el('thead', {}, [head]), body]));
    element.dataset.rows = String(shown.length);
  }
  return {
    element,
    update(rows, options) {
      last = { rows, ...options };
      draw();
    },
    /** Sorts by `key` (a COLUMNS key); again on the same key flips the order. */
    sortBy(key, dir) {
      sort.dir = dir ?? (sort.key === key ? -sort.dir : 1);
      sort.key = key;
      draw();
    },
  };
}

function headCell(c, sort, columns, rows, redraw) {
  const monitors = [...new Set(rows.map((r) => r.monitor).filter(Boolean))];
  const text = c.key === 'best' && monitors.length === 1 ? `best ${monitors[0]}` : c.head;
  const on = sort.key === c.key;
  const th = el('th', {
    cls: `lr-sortable${on ? ' lr-sorted' : ''}`,
    text: on ? `${text} ${sort.dir > 0 ? '▲' : '▼'}` : text,
    attrs: {
      tabindex: '0',
      'data-sort': c.key,
      'aria-sort': on ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none',
      title: `Sort by ${text}`,
    },
  });
  onActivate(th, () => {
    sort.dir = sort.key === c.key ? -sort.dir : 1;
    sort.key = c.key;
    redraw();
  });
  return th;
}

function bodyRow(r, columns, colours, highlight, onPick) {
  const tr = el('tr', {
    cls: `lr-row${highlight === r.run ? ' lr-highlighted' : ''}`,
    attrs: { tabindex: '0', 'data-run': r.run, title: 'Highlight this run in the charts (again: clear)' },
  });
  for (const c of columns) {
    const [text, full] = cellText(r, c.key);
    const td = el('td', { attrs: { 'data-col': c.key, title: full || null } });
    if (c.key === 'run') {
      const sw = el('span', { cls: 'lr-swatch' });
      const colour = colours && colours.get(r.run);
      sw.style.background = colour ? colour.run : 'transparent';
      td.append(sw);
    }
    if (c.key === 'best' && r.best !== null) td.dataset.value = String(r.best);
    td.append(document.createTextNode(text));
    tr.append(td);
  }
  onActivate(tr, () => onPick(highlight === r.run ? null : r.run));
  return tr;
}

// [shown text, full text for the tooltip (or null)].
function cellText(r, key) {
  const dash = (v, f) => (v === null || v === undefined ? '–' : f(v));
  switch (key) {
    case 'run':
      return [r.run, r.run];
    case 'steps':
    case 'epochs':
    case 'reductions':
      return [dash(r[key], formatStep), null];
    case 'finalLr':
      return [dash(r.finalLr, (v) => formatLR(v)), null];
    case 'best':
      return [dash(r.best, formatValue), r.monitor ? `best ${r.monitor}` : null];
    case 'bestEpoch':
      return [dash(r.bestEpoch, formatEpoch), null];
    case 'findings':
      return findingsText(r);
    default:
      return [r[key] ?? '–', r[key] ?? null];
  }
}

function findingsText(r) {
  if (r.warnings == null) return ['…', 'loading the diagnosis'];
  if (!r.warnings && !r.infos) return ['none', null];
  const parts = [r.warnings ? `${r.warnings} warn.` : null, r.infos ? `${r.infos} info` : null].filter(Boolean);
  return [parts.join(' · '), `${r.warnings} warning(s), ${r.infos} info finding(s)`];
}
