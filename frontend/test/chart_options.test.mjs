import test from 'node:test';
import assert from 'node:assert/strict';

import {
  HEIGHT,
  PLOT_BASE,
  Y_AXIS_SIZE,
  axisStyle,
  cursorOptions,
  finderOptions,
  logAxis,
  lossOptions,
  lrOptions,
  tickValues,
  withAlpha,
} from '../src/chart_options.js';

const theme = { name: 'light', text: '#212121', grid: '#e0e0e0', muted: '#616161' };
const ctx = { theme, current: () => null, cursor: cursorOptions('k'), hooks: {}, stepped: () => null };

function view({ hasY2 = false, log = false, axis = 'step' } = {}) {
  const loss = [{ label: 'loss', color: '#ff7043', alpha: 1, width: 2, dash: null, points: true, scale: 'y' }];
  if (hasY2) loss.push({ label: 'acc (monitor)', color: '#ff7043', alpha: 1, width: 2.5, dash: [2, 3], scale: 'y2' });
  return {
    axis,
    loss: { series: loss, hasY2, log, data: [[1, 2]] },
    lr: { series: [{ label: 'actual', color: '#0077bb', width: 2, dash: null, stepped: true }], data: [[1, 2]] },
    markers: [],
    bands: [],
    floors: [],
  };
}

// A fake uPlot whose log y axis puts value v at -100*log10(v) px.
const fakePlot = { valToPos: (v) => -100 * Math.log10(v), scales: { x: {}, y: {} }, bbox: { width: 800, height: 200 } };

test('axisStyle puts the theme colours on the text, the grid and the ticks', () => {
  const s = axisStyle(theme);
  assert.equal(s.stroke, theme.text);
  assert.deepEqual(s.grid, { width: 1, stroke: theme.grid });
  assert.deepEqual(s.ticks, { width: 1, stroke: theme.grid });
});

test('logAxis thins the labels, the grid lines and the ticks alike, decades first', () => {
  const axis = logAxis(axisStyle(theme), 'y', 18);
  assert.equal(axis.filter, axis.grid.filter);
  assert.equal(axis.filter, axis.ticks.filter);
  assert.equal(axis.grid.stroke, theme.grid);
  const splits = [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1];
  assert.deepEqual(axis.filter(fakePlot, splits), [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]);
  // 20 px a decade: only the decades are 18 px apart.
  const tight = { ...fakePlot, valToPos: (v) => -20 * Math.log10(v) };
  assert.deepEqual(axis.filter(tight, splits), [1e-3, null, null, 1e-2, null, null, 1e-1]);
});

test('logAxis thins once per chart, range and size, and again when one changes', () => {
  const axis = logAxis(axisStyle(theme), 'y', 18);
  let calls = 0;
  const u = { ...fakePlot, scales: { y: { min: 1e-3, max: 1e-1 } }, valToPos: (v) => (calls++, -100 * Math.log10(v)) };
  const splits = [1e-3, 2e-3, 5e-3, 1e-2];
  const first = axis.filter(u, splits);
  const counted = calls;
  assert.equal(axis.grid.filter(u, splits), first);
  assert.equal(axis.ticks.filter(u, splits), first);
  assert.equal(calls, counted);
  u.bbox = { width: 800, height: 40 };
  assert.notEqual(axis.filter(u, splits), first);
  assert.ok(calls > counted);
});

test('tickValues leaves a dropped split blank', () => {
  assert.deepEqual(tickValues(String)(null, [1, null, 3]), ['1', '', '3']);
});

test('the loss and LR charts keep their x axes aligned with and without a monitor axis', () => {
  for (const hasY2 of [false, true]) {
    const loss = lossOptions(view({ hasY2 }), ctx);
    const lr = lrOptions(view({ hasY2 }), ctx);
    assert.equal(loss.axes.length, hasY2 ? 3 : 2);
    const lossRight = loss.padding[1] + (hasY2 ? Y_AXIS_SIZE : 0);
    assert.equal(lr.padding[1], lossRight, `hasY2=${hasY2}`);
    assert.equal(loss.focus, PLOT_BASE.focus);
    assert.deepEqual(lr.scales.y, { distr: 3, log: 10 });
  }
});

test('the log loss option gives a log y scale with thinned labels', () => {
  const lin = lossOptions(view(), ctx);
  const log = lossOptions(view({ log: true }), ctx);
  assert.deepEqual(lin.scales.y, {});
  assert.equal(lin.axes[1].filter, undefined);
  assert.deepEqual(log.scales.y, { distr: 3, log: 10 });
  assert.equal(typeof log.axes[1].filter, 'function');
  assert.equal(log.axes[1].label, 'loss (log)');
});

test('series take the view styles; the LR draws stepped where asked', () => {
  const stepped = () => 'stepped';
  const lr = lrOptions(view(), { ...ctx, stepped });
  assert.equal(lr.series[1].paths, stepped);
  assert.equal(lr.series[1].stroke, '#0077bb');
  assert.equal(lr.axes[0].label, 'step');
  assert.equal(lrOptions(view({ axis: 'epoch' }), ctx).axes[0].label, 'epoch (end of)');
  assert.equal(lr.series[0].value(null, 1500), '1,500');
});

test('the finder chart has a log x axis, its own cursor and the y range of the view', () => {
  const finder = finderOptions(
    { series: [{ label: 'loss', color: '#ff7043', alpha: 0.35, width: 1 }], yRange: [0, 2], markers: [] },
    ctx,
  );
  assert.deepEqual(finder.scales.x, { time: false, distr: 3, log: 10 });
  assert.deepEqual(finder.scales.y.range(), [0, 2]);
  assert.equal(finder.cursor.sync, undefined);
  assert.equal(typeof finder.axes[0].filter, 'function');
  assert.equal(finder.series[1].stroke, 'rgba(255, 112, 67, 0.35)');
  assert.ok(HEIGHT.finder > 0);
});

test('withAlpha leaves opaque colours and non-hex colours alone', () => {
  assert.equal(withAlpha('#ff7043', 1), '#ff7043');
  assert.equal(withAlpha('red', 0.5), 'red');
  assert.equal(withAlpha('#000000', 0.5), 'rgba(0, 0, 0, 0.5)');
});
