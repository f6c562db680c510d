// The toolbar, the panels below the charts (events, diagnosis, range tests,
// export) and the empty and error states. Text from the data goes in as
// text only (dom.el).

import { el, onActivate } from './dom.js';
import { formatEpoch, formatLR, formatLRChange, formatStep, formatValue, formatWait } from './format.js';

// ------------------------------------------------------------ toolbar

export function createToolbar({ onAxis, onLossLog, onResetZoom, onRefresh, onMultiples = () => {} }) {
  const stepBtn = el('button', { cls: 'lr-seg', text: 'Step', attrs: { type: 'button', 'data-axis': 'step' } });
  const epochBtn = el('button', { cls: 'lr-seg', text: 'Epoch', attrs: { type: 'button', 'data-axis': 'epoch' } });
  stepBtn.addEventListener('click', () => onAxis('step'));
  epochBtn.addEventListener('click', () => onAxis('epoch'));
  const log = el('input', { attrs: { type: 'checkbox', 'data-control': 'loss-log' } });
  log.addEventListener('change', () => onLossLog(log.checked));
  const multiples = el('input', { attrs: { type: 'checkbox', 'data-control': 'multiples' } });
  multiples.addEventListener('change', () => onMultiples(multiples.checked));
  const multiplesLabel = el(
    'label',
    { cls: 'lr-check', attrs: { title: 'One small loss and LR pair per run, on shared axes' } },
    [multiples, el('span', { text: 'Small multiples' })],
  );
  const reset = el('button', {
    cls: 'lr-button',
    text: 'Reset zoom',
    attrs: { type: 'button', 'data-control': 'reset-zoom' },
  });
  reset.addEventListener('click', onResetZoom);
  const refresh = el('button', {
    cls: 'lr-button',
    text: 'Refresh',
    attrs: { type: 'button', 'data-control': 'refresh', title: 'Reload the data, keeping zoom and selection' },
  });
  refresh.addEventListener('click', onRefresh);
  const status = el('span', { cls: 'lr-muted lr-status', attrs: { 'aria-live': 'polite' } });
  const element = el('div', { cls: 'lr-toolbar' }, [
    el('div', { cls: 'lr-segmented', attrs: { role: 'group', 'aria-label': 'X axis' } }, [
      el('span', { cls: 'lr-muted', text: 'X axis' }),
      stepBtn,
      epochBtn,
    ]),
    el('label', { cls: 'lr-check' }, [log, el('span', { text: 'Log-scale loss' })]),
    multiplesLabel,
    reset,
    refresh,
    status,
  ]);
  return {
    element,
    set({
      axis,
      lossLog,
      zoomed,
      epochAvailable,
      stepAvailable = true,
      multiples: grid = false,
      multiplesAvailable = false,
    }) {
      multiples.checked = grid;
      multiplesLabel.hidden = !multiplesAvailable;
      stepBtn.classList.toggle('lr-seg--on', axis === 'step');
      epochBtn.classList.toggle('lr-seg--on', axis === 'epoch');
      stepBtn.setAttribute('aria-pressed', String(axis === 'step'));
      epochBtn.setAttribute('aria-pressed', String(axis === 'epoch'));
      epochBtn.disabled = !epochAvailable && axis !== 'epoch';
      epochBtn.title = epochBtn.disabled ? 'No epoch recorded yet for the selected runs' : 'Plot against epochs';
      stepBtn.disabled = !stepAvailable && axis !== 'step';
      stepBtn.title = stepBtn.disabled
        ? 'The selected runs are recorded per epoch only'
        : 'Plot against optimizer steps';
      log.checked = lossLog;
      reset.disabled = !zoomed;
    },
    setStatus(text) {
      status.textContent = text;
    },
  };
}

// ------------------------------------------------------------ cards

/**
 * The cards below the charts: {details, eventsBody, diagBody, exportBody,
 * onlyRunBox, onlyRunText}; the "this run only" box calls onOnlyRun(checked).
 */
export function detailCards(onOnlyRun) {
  const card = (cls, title, body, extra = null) =>
    el('section', { cls: `lr-card ${cls}` }, [el('h2', { cls: 'lr-card-title', text: title }), extra, body]);
  const [eventsBody, diagBody, exportBody] = [el('div'), el('div'), el('div')];
  const onlyRunBox = el('input', { attrs: { type: 'checkbox', 'data-control': 'this-run-only' } });
  onlyRunBox.addEventListener('change', () => onOnlyRun(onlyRunBox.checked));
  const onlyRunText = el('span');
  const onlyRun = el('label', { cls: 'lr-check lr-only-run' }, [onlyRunBox, onlyRunText]);
  const details = el('div', { cls: 'lr-details' }, [
    card('lr-events-card', 'Plateau decisions and LR changes', eventsBody, onlyRun),
    el('div', { cls: 'lr-side-cards' }, [
      card('lr-diagnosis', 'Diagnosis', diagBody),
      card('lr-export', 'Export every step', exportBody),
    ]),
  ]);
  return { details, eventsBody, diagBody, exportBody, onlyRunBox, onlyRunText };
}

// ------------------------------------------------------------ event table

const KIND_LABEL = {
  reduction: 'plateau reduction',
  cooldown: 'cooldown',
  min_lr_floor: 'at min_lr',
  lr_change: 'LR changed',
  scheduler: 'scheduler',
};

/**
 * One row per event: epoch, step, monitor, value, best, wait/patience,
 * old → new LR, cooldown. A click on a row calls onPick(run, event).
 *
 * @param {{run: string, events: object[]}[]} perRun
 */
export function eventTable(perRun, { onPick, showRun }) {
  const total = perRun.reduce((n, r) => n + r.events.length, 0);
  if (!total)
    return el('p', {
      cls: 'lr-muted',
      text: 'No plateau reduction, cooldown or LR change recorded for the selected runs.',
    });
  const head = [
    'kind',
    'epoch',
    'step',
    'monitor',
    'value',
    'best',
    ['wait', 'wait/patience'],
    ['LR', 'old → new LR'],
    ['cool-down', 'cooldown'],
  ];
  if (showRun) head.unshift('run');
  const tbody = el('tbody');
  for (const { run, events } of perRun) {
    for (const e of events) {
      const cells = [
        el('span', { cls: `lr-kind lr-kind--${e.kind}`, text: KIND_LABEL[e.kind] || e.kind }),
        formatEpoch(e.epoch),
        formatStep(e.step),
        e.monitor ?? '–',
        e.value !== undefined ? formatValue(e.value) : '–',
        e.best !== undefined ? formatValue(e.best) : '–',
        e.kind === 'reduction' || e.kind === 'min_lr_floor' ? formatWait(e.wait, e.patience, e.framework) : '–',
        lrCell(e),
        cooldownCell(e),
      ];
      if (showRun) cells.unshift(run);
      const tr = el('tr', { cls: 'lr-row', attrs: { tabindex: '0', 'data-kind': e.kind } });
      for (const c of cells) {
        const text = typeof c === 'string' ? c : c.textContent;
        tr.append(el('td', { attrs: { title: text } }, [typeof c === 'string' ? document.createTextNode(c) : c]));
      }
      tr.title = 'Zoom the charts to this event';
      onActivate(tr, () => onPick(run, e, tr));
      tbody.append(tr);
    }
  }
  return el('div', { cls: 'lr-table-wrap' }, [
    el('table', { cls: 'lr-table lr-events' }, [
      el('thead', {}, [
        el(
          'tr',
          {},
          head.map((h) =>
            Array.isArray(h) ? el('th', { text: h[0], attrs: { title: h[1] } }) : el('th', { text: h }),
          ),
        ),
      ]),
      tbody,
    ]),
  ]);
}

function lrCell(e) {
  if (e.kind === 'min_lr_floor') return `${formatLR(e.lr)} (min_lr ${formatLR(e.min_lr)})`;
  if (e.old_lr !== undefined || e.new_lr !== undefined) return formatLRChange(e.old_lr, e.new_lr);
  return '–';
}

function cooldownCell(e) {
  if (e.kind === 'cooldown') return e.phase === 'end' ? 'ends' : `starts: ${e.cooldown ?? '?'} epochs`;
  if (e.kind === 'reduction') return e.cooldown ? `${e.cooldown} epochs` : 'none';
  return '–';
}

// ------------------------------------------------------------ diagnosis

/** The audit findings, warnings first; a click calls onPick(run, finding). */
export function diagnosisPanel(perRun, { onPick, showRun }) {
  const all = [];
  for (const { run, findings } of perRun) for (const f of findings) all.push([run, f]);
  if (!all.length)
    return el('p', {
      cls: 'lr-muted',
      text: 'No findings: nothing unusual in the recorded schedule and plateau decisions.',
    });
  const list = el('ul', { cls: 'lr-findings' });
  for (const [run, f] of all) {
    const where = [
      f.epoch != null ? `epoch ${formatEpoch(f.epoch)}` : null,
      f.step != null ? `step ${formatStep(f.step)}` : null,
    ]
      .filter(Boolean)
      .join(', ');
    const placeable = f.epoch != null || f.step != null;
    const item = el(
      'li',
      {
        cls: `lr-finding lr-finding--${f.severity}`,
        attrs: { tabindex: placeable ? '0' : null, 'data-severity': f.severity },
      },
      [
        el('span', { cls: `lr-badge lr-badge--${f.severity}`, text: f.severity }),
        el('span', { cls: 'lr-finding-text' }, [
          el('span', { cls: 'lr-finding-msg', text: f.message }),
          el('span', {
            cls: 'lr-muted lr-finding-where',
            text: [showRun ? run : null, where, f.kind].filter(Boolean).join(' · '),
          }),
        ]),
      ],
    );
    if (placeable) {
      item.title = 'Show this place on the charts';
      onActivate(item, () => onPick(run, f, item));
    }
    list.append(item);
  }
  return list;
}

// ------------------------------------------------------------ LR range test

/**
 * One line per range test (from shape.buildFinderView's `tests`): the
 * suggested LR (valley rule), the steepest descent, steps and LR span.
 * The two values carry `data-suggestion` for the tests.
 */
export function finderSummary(tests) {
  const list = el('ul', { cls: 'lr-finder-tests' });
  for (const t of tests) {
    const swatch = el('span', { cls: 'lr-swatch' });
    swatch.style.background = t.color;
    list.append(
      el('li', { cls: 'lr-finder-test', attrs: { 'data-run': t.run } }, [
        swatch,
        t.name ? el('span', { cls: 'lr-run-name', text: t.name }) : null,
        el('span', { text: 'suggested LR (valley) ' }),
        el('strong', { cls: 'lr-finder-value', text: t.suggested, attrs: { 'data-suggestion': 'valley' } }),
        el('span', { text: ' · steepest ' }),
        el('strong', { cls: 'lr-finder-value', text: t.steepest, attrs: { 'data-suggestion': 'steepest' } }),
        el('span', { cls: 'lr-muted', text: ` · ${t.span}` }),
      ]),
    );
  }
  return list;
}

// ------------------------------------------------------------ export

/** Download links for each selected run: CSV (every step) and JSON. */
export function exportLinks(runs, exportUrl, download = null) {
  const list = el('ul', { cls: 'lr-exports' });
  const link = (run, format, name) => {
    // `download(run, format, name)`: the file is built here (a report's
    // inlined export), not fetched.
    const on = download
      ? {
          click: (e) => {
            e.preventDefault();
            download(run, format, name);
          },
        }
      : undefined;
    const attrs = { href: exportUrl(run, format), download: name, 'data-format': format };
    return el('a', { cls: 'lr-button', text: format.toUpperCase(), attrs, on });
  };
  for (const run of runs) {
    const base = safeFileName(run);
    list.append(
      el('li', {}, [
        el('span', { cls: 'lr-run-name', text: run }),
        link(run, 'csv', `${base}.lr.csv`),
        link(run, 'json', `${base}.lr.json`),
      ]),
    );
  }
  return list;
}

export function safeFileName(run) {
  const name = run
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 80);
  return name || 'run';
}

// ------------------------------------------------------------ states

export const SNIPPET = [
  'from tb_lr_plugin.callbacks import LearningRateLogger',
  'model.fit(x, y, callbacks=[LearningRateLogger("logs/run1")])',
].join('\n');

export const TORCH_SNIPPET = [
  'from tb_lr_plugin.torch import LearningRateLogger',
  'lr_log = LearningRateLogger("logs/run1", optimizer, scheduler)  # a plain loop: no call per step',
  '# Lightning: Trainer(callbacks=[tb_lr_plugin.torch.LearningRateMonitor()])',
  '# Hugging Face: Trainer(..., callbacks=[tb_lr_plugin.torch.LearningRateCallback()])',
].join('\n');

export const COMMAND = 'tensorboard --logdir logs';

/** No run has learning-rate data: say how to record some. */
export function emptyState() {
  return el('section', { cls: 'lr-card lr-empty', attrs: { 'data-state': 'empty' } }, [
    el('h2', { text: 'No learning-rate data yet' }),
    el('p', { text: 'Add one callback to your Keras training:' }),
    el('pre', { cls: 'lr-code' }, [el('code', { text: SNIPPET })]),
    el('p', { text: 'or, with PyTorch (pip install "tb-lr-plugin[torch]"), one of:' }),
    el('pre', { cls: 'lr-code' }, [el('code', { text: TORCH_SNIPPET })]),
    el('p', { text: 'and point TensorBoard at the log directory:' }),
    el('pre', { cls: 'lr-code' }, [el('code', { text: COMMAND })]),
    el('p', {
      cls: 'lr-muted',
      text: 'Use tb_lr_plugin.callbacks.ReduceLROnPlateau instead of Keras’s to also see why each plateau reduction fired; torch’s own ReduceLROnPlateau is recorded as it is. New data appears here automatically.',
    }),
  ]);
}

/** A route failed. */
export function errorState(errors, onRetry) {
  return el('section', { cls: 'lr-card lr-error', attrs: { role: 'alert', 'data-state': 'error' } }, [
    el('h2', { text: 'Could not load the learning-rate data' }),
    el(
      'ul',
      {},
      errors.map((e) => el('li', { text: typeof e.describe === 'function' ? e.describe() : String(e) })),
    ),
    el('button', { cls: 'lr-button', text: 'Retry', attrs: { type: 'button' }, on: { click: onRetry } }),
  ]);
}
