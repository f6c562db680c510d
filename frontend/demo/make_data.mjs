// Writes demo/data/: saved responses of the plugin's routes (runs, lr, loss,
// events, audit, finder) for a few simulated trainings, so the tab can be worked on
// without TensorBoard. Deterministic. `node demo/make_data.mjs`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'data');

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f32 = (x) => Math.fround(x);

/** A training with a plateau controller (Keras's ReduceLROnPlateau rules). */
function simulatePlateau({ run, seed, epochs = 40, stepsPerEpoch = 25, lr0 = 1e-3, factor = 0.3, patience = 3, cooldown = 2, minLr = 2e-5 }) {
  const rand = rng(seed);
  let lr = lr0;
  let best = Infinity;
  let wait = 0;
  let cooldownCounter = 0;
  const step = [], planned = [], actual = [];
  const batch = { step: [], value: [] };
  const loss = { step: [], epoch: [], value: [] };
  const val = { step: [], epoch: [], value: [] };
  const epochsTable = { epoch: [], step: [] };
  const events = [];
  let progress = 0;
  for (let e = 0; e < epochs; e++) {
    for (let b = 0; b < stepsPerEpoch; b++) {
      const s = e * stepsPerEpoch + b + 1;
      progress += lr * 1000 * 0.04;
      const l = 0.25 + 1.6 * Math.exp(-progress / 6) + 0.08 * (rand() - 0.5) + 0.05 * Math.sin(s / 7);
      step.push(s);
      planned.push(f32(lr0));
      actual.push(f32(lr));
      batch.step.push(s);
      batch.value.push(+l.toFixed(5));
    }
    const s = (e + 1) * stepsPerEpoch;
    const trainLoss = 0.25 + 1.6 * Math.exp(-progress / 6) + 0.01 * rand();
    const valLoss = 0.42 + 1.5 * Math.exp(-progress / 3) + 0.03 * rand() + (progress > 6 ? 0.01 * (progress - 6) : 0);
    loss.step.push(s); loss.epoch.push(e); loss.value.push(+trainLoss.toFixed(5));
    val.step.push(s); val.epoch.push(e); val.value.push(+valLoss.toFixed(5));
    epochsTable.epoch.push(e); epochsTable.step.push(s);
    // ReduceLROnPlateau.on_epoch_end
    if (cooldownCounter > 0) {
      cooldownCounter--;
      wait = 0;
      if (cooldownCounter === 0) events.push({ kind: 'cooldown', epoch: e, step: s, optimizer: 'adam', phase: 'end', cooldown, monitor: 'val_loss' });
    }
    if (valLoss < best - 1e-4) {
      best = valLoss;
      wait = 0;
    } else if (cooldownCounter === 0) {
      wait++;
      if (wait >= patience) {
        if (lr > minLr * (1 + 1e-6)) {
          const newLr = Math.max(lr * factor, minLr);
          events.push({ kind: 'reduction', epoch: e, step: s, optimizer: 'adam', monitor: 'val_loss', value: +valLoss.toFixed(5), best: +best.toFixed(5), wait, patience, old_lr: f32(lr), new_lr: f32(newLr), factor, min_lr: minLr, cooldown });
          lr = newLr;
          if (cooldown) {
            cooldownCounter = cooldown;
            events.push({ kind: 'cooldown', epoch: e, step: s, optimizer: 'adam', phase: 'start', cooldown, monitor: 'val_loss' });
          }
          wait = 0;
        } else {
          events.push({ kind: 'min_lr_floor', epoch: e, step: s, optimizer: 'adam', monitor: 'val_loss', value: +valLoss.toFixed(5), best: +best.toFixed(5), wait, patience, lr: f32(lr), min_lr: minLr });
        }
      }
    }
  }
  const findings = [];
  const reductions = events.filter((x) => x.kind === 'reduction');
  if (reductions.length) {
    const r = reductions[reductions.length - 1];
    findings.push({ kind: 'reduction_no_improvement', severity: 'warning', epoch: r.epoch, step: r.step, message: `val_loss did not improve in the ${patience + cooldown} epochs after the reduction at epoch ${r.epoch} (${r.old_lr.toPrecision(2)} → ${r.new_lr.toPrecision(2)}).` });
  }
  const floor = events.find((x) => x.kind === 'min_lr_floor');
  if (floor) findings.push({ kind: 'min_lr_reached', severity: 'warning', epoch: floor.epoch, step: floor.step, message: `The LR sat at min_lr (${minLr}) from epoch ${floor.epoch}: later plateaus were ignored. Lower min_lr or stop earlier.` });
  findings.push({ kind: 'summary', severity: 'info', epoch: null, step: null, message: `${reductions.length} plateau reductions over ${epochs} epochs.` });
  return {
    runs: { run, optimizers: ['adam'], source: 'logger', steps: step.length, epochs, events: events.length },
    lr: { run, optimizers: [{ name: 'adam', step, planned, actual }], epochs: epochsTable, points: step.length, downsampled: false },
    loss: {
      run,
      monitor: 'val_loss',
      series: [
        { name: 'batch_loss', source: 'logger', resolution: 'step', ...batch },
        { name: 'loss', source: 'logger', resolution: 'epoch', ...loss },
        { name: 'val_loss', source: 'logger', resolution: 'epoch', ...val },
      ],
      epochs: epochsTable,
    },
    events: { events },
    audit: { findings },
  };
}

/** Cosine decay with warmup (planned == actual) and one manual change. */
function simulateCosine({ run, seed, epochs = 30, stepsPerEpoch = 30 }) {
  const rand = rng(seed);
  const total = epochs * stepsPerEpoch;
  const warm = 3 * stepsPerEpoch;
  const step = [], planned = [], actual = [];
  const batch = { step: [], value: [] };
  const loss = { step: [], epoch: [], value: [] };
  const val = { step: [], epoch: [], value: [] };
  const epochsTable = { epoch: [], step: [] };
  const manualAt = 20;
  const events = [];
  for (let s = 1; s <= total; s++) {
    const t = s - 1;
    const p = t < warm ? 1e-2 * (t / warm) : 1e-2 * 0.5 * (1 + Math.cos((Math.PI * (t - warm)) / (total - warm)));
    const e = Math.floor((s - 1) / stepsPerEpoch);
    step.push(s);
    planned.push(f32(p));
    actual.push(f32(e >= manualAt ? p * 0.5 : p));
    batch.step.push(s);
    batch.value.push(+(0.3 + 1.2 * Math.exp(-s / 200) + 0.1 * (rand() - 0.5)).toFixed(5));
  }
  for (let e = 0; e < epochs; e++) {
    const s = (e + 1) * stepsPerEpoch;
    epochsTable.epoch.push(e); epochsTable.step.push(s);
    loss.step.push(s); loss.epoch.push(e); loss.value.push(+(0.3 + 1.2 * Math.exp(-s / 200) + 0.01 * rand()).toFixed(5));
    val.step.push(s); val.epoch.push(e); val.value.push(+(0.36 + 1.1 * Math.exp(-s / 225) + 0.02 * rand()).toFixed(5));
  }
  const s20 = manualAt * stepsPerEpoch;
  events.push({ kind: 'lr_change', epoch: manualAt - 1, step: s20, optimizer: 'sgd', old_lr: actual[s20 - 1], new_lr: actual[s20] });
  return {
    runs: { run, optimizers: ['sgd'], source: 'logger', steps: total, epochs, events: events.length },
    lr: { run, optimizers: [{ name: 'sgd', step, planned, actual }], epochs: epochsTable, points: total, downsampled: false },
    loss: {
      run,
      monitor: null,
      series: [
        { name: 'batch_loss', source: 'logger', resolution: 'step', ...batch },
        { name: 'loss', source: 'logger', resolution: 'epoch', ...loss },
        { name: 'val_loss', source: 'keras', resolution: 'epoch', ...val },
      ],
      epochs: epochsTable,
    },
    events: { events },
    audit: { findings: [{ kind: 'unexplained_change', severity: 'info', epoch: manualAt - 1, step: s20, message: 'The LR was halved at epoch 19 by something other than the schedule (a manual assignment or Keras’s own ReduceLROnPlateau).' }] },
  };
}

/**
 * An LR range test as LearningRateFinder records it: an exponential ramp,
 * the per-step loss, its bias-corrected moving average, and the two
 * suggestions by the rules of tb_lr_plugin/lr_finder.py.
 */
function simulateFinder({ run, seed, minLr = 1e-6, maxLr = 1, numSteps = 100, beta = 0.98, stopFactor = 4 }) {
  const rand = rng(seed);
  const lr = [], loss = [], smoothed = [];
  let avg = 0;
  let best = Infinity;
  for (let i = 0; i < numSteps; i++) {
    const x = minLr * (maxLr / minLr) ** (i / (numSteps - 1));
    const t = Math.log10(x);
    // Flat, a descent around 1e-3, then divergence.
    const l = 0.3 + 2 / (1 + Math.exp((t + 3) * 2.5)) + (x > 0.05 ? (x - 0.05) * 60 : 0) + 0.08 * (rand() - 0.5);
    avg = beta * avg + (1 - beta) * l;
    const s = avg / (1 - beta ** (i + 1));
    lr.push(x); loss.push(+l.toFixed(5)); smoothed.push(s);
    if (s > stopFactor * best) break;
    best = Math.min(best, s);
  }
  // steepest: the most negative gradient of smoothed against ln(lr), 2 points off each end.
  const n = lr.length;
  const grad = (i) => {
    const a = Math.max(0, i - 1), b = Math.min(n - 1, i + 1);
    return (smoothed[b] - smoothed[a]) / (Math.log(lr[b]) - Math.log(lr[a]));
  };
  let steepest = 2;
  for (let i = 2; i < n - 2; i++) if (grad(i) < grad(steepest)) steepest = i;
  // valley: halfway down the longest decreasing run (fastai).
  const lds = new Array(n).fill(1);
  for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) if (smoothed[j] > smoothed[i]) lds[i] = Math.max(lds[i], lds[j] + 1);
  const end = lds.indexOf(Math.max(...lds));
  const start = end - lds[end] + 1;
  const sections = (end - start) / 3;
  const valley = start + Math.trunc(sections) + Math.trunc(sections / 2);
  return {
    run,
    tests: [{ step: 0, lr, loss, smoothed, steepest: lr[steepest], valley: lr[valley], min_lr: minLr, max_lr: maxLr, num_steps: numSteps, smoothing: beta, time: 1700000000 }],
  };
}

const datasets = [
  simulatePlateau({ run: 'resnet/plateau', seed: 7 }),
  simulateCosine({ run: 'resnet/cosine_warmup', seed: 11 }),
  simulatePlateau({ run: '<img src=x onerror=alert(1)>', seed: 3, epochs: 16, factor: 0.5, patience: 2, cooldown: 0, minLr: 1e-4 }),
];

mkdirSync(out, { recursive: true });
const write = (file, obj) => writeFileSync(path.join(out, file), JSON.stringify(obj) + '\n');
datasets[0].finder = simulateFinder({ run: datasets[0].runs.run, seed: 5 });
write('runs.json', { runs: datasets.map((d) => ({ ...d.runs, finder: d.finder ? d.finder.tests.length : 0 })) });
datasets.forEach((d, i) => {
  mkdirSync(path.join(out, `run${i}`), { recursive: true });
  for (const route of ['lr', 'loss', 'events', 'audit', 'finder']) if (d[route]) write(`run${i}/${route}.json`, d[route]);
});
console.log(`wrote ${datasets.length} runs to ${path.relative(process.cwd(), out)}`);
