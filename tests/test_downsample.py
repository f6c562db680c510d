"""Display downsampling keeps what the tab is for: changes, events, spikes."""

import time

import numpy as np

from tb_lr_plugin import downsample
from tb_lr_plugin.downsample import DEFAULT_BUDGET, select


def test_short_series_is_returned_whole():
    steps = np.arange(1, 1001)
    assert select(steps, np.ones(1000)).tolist() == list(range(1000))


def test_keeps_first_last_and_both_sides_of_every_step_change():
    steps = np.arange(1, 1_000_001, dtype=np.float64)
    lr = np.full(len(steps), 1e-3)
    drops = [12_345, 400_000, 777_777]
    for d in drops:
        lr[d:] *= 0.5
    idx = select(steps, np.stack([lr, lr], axis=1))
    assert len(idx) <= DEFAULT_BUDGET
    assert idx[0] == 0 and idx[-1] == len(steps) - 1
    kept = set(idx.tolist())
    for d in drops:
        assert {d - 1, d} <= kept
    # Drawn as a line through the kept points, the series is exact.
    assert np.array_equal(np.interp(steps, steps[idx], lr[idx]) == lr, np.ones(len(lr), bool))


def test_keeps_planned_or_actual_changes():
    steps = np.arange(1, 100_001)
    planned = np.full(len(steps), 0.1)
    actual = planned.copy()
    actual[50_000:] = 0.01  # only actual changes
    idx = set(select(steps, np.stack([planned, actual], axis=1)).tolist())
    assert {49_999, 50_000} <= idx


def test_smooth_schedule_keeps_jumps_and_stays_within_budget():
    n = 1_000_000
    steps = np.arange(1, n + 1, dtype=np.float64)
    planned = 1e-3 * 0.5 * (1 + np.cos(np.pi * steps / n))  # changes at every step
    actual = planned.copy()
    actual[600_000:] *= 0.1  # a plateau reduction on top of the schedule
    idx = select(steps, np.stack([planned, actual], axis=1))
    assert len(idx) <= DEFAULT_BUDGET
    assert {599_999, 600_000} <= set(idx.tolist())
    # The envelope follows the curve: no gap wider than a bucket.
    assert np.diff(steps[idx]).max() <= 2 * n / (DEFAULT_BUDGET / 4)


def test_spikes_survive_in_the_envelope():
    rng = np.random.default_rng(0)
    n = 500_000
    steps = np.arange(1, n + 1)
    loss = 1.0 + 0.01 * rng.standard_normal(n)
    spikes = [1234, 250_000, 499_000]
    loss[spikes] = 50.0
    loss[300_000] = -5.0
    idx = set(select(steps, loss).tolist())
    assert set(spikes) | {300_000} <= idx


def test_non_finite_rows_are_kept_and_do_not_break_buckets():
    n = 200_000
    steps = np.arange(1, n + 1)
    loss = np.linspace(2, 1, n)
    loss[120_000:120_010] = np.nan
    loss[150_000] = np.inf
    idx = set(select(steps, loss).tolist())
    assert {119_999, 120_000, 120_009, 120_010, 150_000} <= idx


def test_event_steps_are_kept():
    n = 300_000
    steps = np.arange(1, n + 1)
    lr = 1e-3 * np.exp(-steps / n)
    events = [10_000, 123_456, 299_999]
    idx = select(steps, lr, keep_steps=events)
    kept_steps = set(steps[idx].tolist())
    for s in events:
        assert {s, s + 1} <= kept_steps


def test_many_events_and_changes_still_fit_the_budget():
    n = 400_000
    steps = np.arange(1, n + 1)
    lr = 1e-3 * 0.999 ** (steps // 50)  # 8000 staircase drops
    idx = select(steps, lr, keep_steps=np.arange(0, n, 37))
    assert len(idx) <= DEFAULT_BUDGET
    assert np.all(np.diff(idx) > 0)


def _best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_a_million_rows_cost_a_few_sorts():
    # A ratio against a baseline timed in the same run, never an absolute time: one argsort
    # and one diff of the same million rows is what a linear-time selection should stay near.
    n = 1_000_000
    steps = np.arange(1, n + 1, dtype=np.float64)
    cols = np.stack([np.cos(steps / 1e5), np.cos(steps / 1e5)], axis=1)
    select(steps, cols)
    ours = _best_of(lambda: select(steps, cols, keep_steps=range(0, n, 20_000)))
    baseline = _best_of(lambda: (np.argsort(cols[:, 0]), np.diff(cols, axis=0)))
    assert ours < 8 * baseline, (ours, baseline)


def test_the_jump_scale_is_numpys_median_to_the_bit():
    # `_median` stands in for `np.median` (several times slower on a million changes): the
    # rows kept depend on it, so it must give the same float, for odd and even counts.
    rng = np.random.default_rng(7)
    samples = [np.zeros(0), np.array([3.0]), np.array([2.0, 1.0]), np.full(10, 0.1)]
    for n in (2, 3, 10, 11, 1_000, 1_001, 100_000):
        samples += [rng.random(n), np.exp(rng.normal(0, 40, n)), rng.integers(1, 4, n) * 1e-3]
    for x in samples:
        expected = np.median(x) if len(x) else np.inf
        assert downsample._median(x) == expected, (len(x), downsample._median(x), expected)


def test_the_median_costs_less_than_numpys():
    changes = np.abs(np.diff(np.random.default_rng(3).random(1_000_001)))
    ours = _best_of(lambda: downsample._median(changes))
    numpy_median = _best_of(lambda: np.median(changes))
    assert ours < 0.5 * numpy_median, (ours, numpy_median)
