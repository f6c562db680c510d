"""Findings about a run's learning rate: the engine behind the tab and the CLI.

`find(run, keras)` takes what was recorded (a `RunData`, plus the scalars
of Keras's `TensorBoard` callback when it wrote beside it) and returns
findings, each a dict with `kind`, `severity` (`"info"` or `"warning"`),
`epoch`, `step` and a one-sentence `message`. It does no I/O, so the
`audit` route and `tb-lr-audit` say the same thing about the same data.

The kinds, their definitions and thresholds are documented in
docs/audit.md; the thresholds are the module constants below.
"""

import itertools
import math

import numpy as np

from tb_lr_plugin import keras_logs, run_model

INFO = "info"
WARNING = "warning"

REDUCTION_INEFFECTIVE = "reduction_ineffective"
REDUCTION_EVERY_EPOCH = "reduction_every_epoch"
MIN_LR_REACHED = "min_lr_reached"
PLAN_DEVIATION = "plan_deviation"
SCHEDULE_RESTART = "schedule_restart"
LOSS_SPIKE_AFTER_LR_CHANGE = "loss_spike_after_lr_change"
MONITOR_MISSING = "monitor_missing"
SCHEDULER_CONFLICT = "scheduler_conflict"

KINDS = (
    REDUCTION_INEFFECTIVE,
    REDUCTION_EVERY_EPOCH,
    MIN_LR_REACHED,
    PLAN_DEVIATION,
    SCHEDULE_RESTART,
    LOSS_SPIKE_AFTER_LR_CHANGE,
    MONITOR_MISSING,
    SCHEDULER_CONFLICT,
)

# Two learning rates are equal when they differ by at most this much
# relative to the larger, plus LR_RTOL times the run's peak LR (so values
# near zero at the end of a decay compare sensibly): a few float32 ulps.
LR_RTOL = 16 * float(np.finfo(np.float32).eps)

# reduction_every_epoch: this many reductions or more in a row, each at
# most THRASH_MAX_GAP epochs after the one before.
THRASH_MIN_REDUCTIONS = 3
THRASH_MAX_GAP = 2

# reduction_ineffective for an lr_change (no patience known): the window is
# the epochs up to the next decrease, or to the end of the run when at
# least this many epochs follow; an improvement must beat the best by
# FALLBACK_MIN_DELTA (Keras's default min_delta).
FALLBACK_WINDOW_EPOCHS = 3
FALLBACK_MIN_DELTA = 1e-4

# loss_spike_after_lr_change, per step: within SPIKE_WINDOW_STEPS steps
# after the LR rose, the batch loss became NaN/inf or exceeded
# SPIKE_RATIO_STEP times the median of the SPIKE_REFERENCE_STEPS steps
# before it. Per epoch (no batch loss): the epoch loss of the first two
# epochs trained with the higher LR became NaN/inf or exceeded
# SPIKE_RATIO_EPOCH times the epoch before.
SPIKE_WINDOW_STEPS = 20
SPIKE_REFERENCE_STEPS = 20
SPIKE_RATIO_STEP = 3.0
SPIKE_RATIO_EPOCH = 1.5

# schedule_restart: after a resume the LR is above where the run left off
# (following its plan) by more than this factor.
RESTART_JUMP = 1.001

_EXPLAINING_EVENTS = ("reduction", "lr_change", "scheduler")


def fmt_lr(x):
    """A learning rate in compact scientific notation: 1e-3, 2.5e-4.

    Example:
      >>> fmt_lr(0.00025), fmt_lr(1.0), fmt_lr(0.0)
      ('2.5e-4', '1e0', '0')
    """
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _fmt(x):
    if x is None:
        return "-"
    x = float(x)
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def _finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x):
    return int(x) if _finite(x) else None


def _finding(kind, severity, epoch, step, message, **extra):
    out = {
        "kind": kind,
        "severity": severity,
        "epoch": _int(epoch),
        "step": _int(step),
        "message": message,
    }
    out.update(extra)
    return out


def _epoch_word(epoch):
    # Users read Keras's progress bar, which counts epochs from 1.
    return f"epoch {epoch + 1}" if epoch is not None else "an unknown epoch"


class _View:
    """What the findings read, from our records or from Keras's scalars."""

    def __init__(self, model):
        self.run = model.data
        self.keras = model.keras
        self.fallback = model.source != run_model.SOURCE_LOGGER
        self.timing = model.timing
        self.epoch_ends = model.epoch_ends
        self._end_epochs = np.array(list(self.epoch_ends), dtype=np.int64)
        self._end_steps = np.array(list(self.epoch_ends.values()), dtype=np.float64)
        self.events = model.raw_events()
        self.keras_epochs = keras_logs.epoch_series(self.keras)
        self._metrics = {}

    def epoch_of_step(self, step):
        """The epoch that contains update `step` (None if unknown)."""
        if step is None or not len(self._end_steps):
            return None
        i = int(np.searchsorted(self._end_steps, step, side="left"))
        if i < len(self._end_epochs):
            return int(self._end_epochs[i])
        return int(self._end_epochs[-1]) + 1

    def metric(self, name):
        """`{epoch: value}` of an epoch metric (`loss`, `val_loss`, ...)."""
        if name not in self._metrics:
            self._metrics[name] = self._read_metric(name)
        return self._metrics[name]

    def _read_metric(self, name):
        out = {}
        series = self.keras_epochs.get(name)
        if series is not None:
            out.update({int(e): float(v) for e, v in series})
        for item in self.run.epochs:
            logs = item.get("logs")
            if isinstance(logs, dict) and name in logs and isinstance(item.get("epoch"), int):
                value = logs[name]
                out[item["epoch"]] = float(value) if _number(value) else math.nan
        for item in self.run.plateau:
            if item.get("monitor") == name and isinstance(item.get("epoch"), int):
                if _number(item.get("value")):
                    out[item["epoch"]] = float(item["value"])
        return dict(sorted(out.items()))

    def batch_loss(self):
        """float64 `[n, 2]` of step, batch loss (ours, else Keras's)."""
        rows = self.run.batch.get("loss")
        if rows is not None and len(rows):
            return rows
        series = keras_logs.batch_series(self.keras).get("loss")
        return series if series is not None else np.zeros((0, 2))


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def find(run, keras=None):
    """Audits one run.

    Args:
      run: the run's `RunData` (empty for a run only Keras's TensorBoard
        callback wrote).
      keras: `{"train": {tag: float64 [n, 2]}, "validation": {...}}`: the
        scalars of Keras's `TensorBoard` callback for this run (step and
        value columns), or `None`.

    Returns:
      A list of finding dicts (`kind`, `severity`, `epoch`, `step`,
      `message`), sorted by step; empty for a clean run.
    """
    return find_run(run_model.build("", run, keras))


def find_run(model):
    """Audits one `run_model.Run` (what the plugin and the CLI hold).

    Returns:
      As `find`.
    """
    view = _View(model)
    findings = []
    findings += _monitor_missing(view)
    findings += _reduction_ineffective(view)
    findings += _reduction_every_epoch(view)
    findings += _min_lr_reached(view)
    findings += _plan_deviation(view)
    findings += _schedule_restart(view)
    findings += _loss_spike(view)
    findings += _scheduler_conflict(view)
    findings.sort(
        key=lambda f: (
            f["step"] is None,
            f["step"] or 0,
            f["epoch"] if f["epoch"] is not None else -1,
            KINDS.index(f["kind"]),
        )
    )
    return findings


# -- ReduceLROnPlateau ------------------------------------------------------


def _reductions(view):
    """LR decreases with what is known about them, one per epoch.

    Returns:
      Dicts with `epoch`, `step`, `old_lr`, `new_lr`, `monitor`, `mode`,
      `min_delta`, `patience`, `cooldown`, `best`, `plateau` (True when a
      plateau callback certainly made it).
    """
    plateau_by_epoch = {p.get("epoch"): p for p in view.run.plateau}
    out = {}
    for ev in view.events:
        kind = ev.get("kind")
        old, new = ev.get("old_lr"), ev.get("new_lr")
        if kind not in ("reduction", "lr_change") or not (_finite(old) and _finite(new)):
            continue
        if new >= old or not isinstance(ev.get("epoch"), int):
            continue
        epoch = ev["epoch"]
        if epoch in out:
            continue
        state = plateau_by_epoch.get(epoch, {})
        monitor = ev.get("monitor") or state.get("monitor")
        mode = state.get("mode")
        if mode not in ("min", "max"):
            mode = keras_logs.mode_for(monitor) if monitor else "min"
        out[epoch] = {
            "epoch": epoch,
            "step": ev.get("step"),
            "old_lr": float(old),
            "new_lr": float(new),
            "monitor": monitor,
            "mode": mode,
            "min_delta": state.get("min_delta") if _finite(state.get("min_delta")) else 0.0,
            "patience": ev.get("patience") if _finite(ev.get("patience")) else None,
            "cooldown": ev.get("cooldown") if _finite(ev.get("cooldown")) else None,
            "best": ev.get("best") if _finite(ev.get("best")) else None,
            "plateau": kind == "reduction",
        }
    reductions = [out[e] for e in sorted(out)]
    if any(r["plateau"] for r in reductions):
        return [r for r in reductions if r["plateau"]]
    return _plateau_like(view, reductions)


def _guess_monitor(view):
    for name in ("val_loss", "loss"):
        if view.metric(name):
            return name
    return None


def _plateau_like(view, reductions):
    """Keeps the decreases a plateau callback could have made.

    Without our `ReduceLROnPlateau` the settings are unknown: the monitor
    is taken to be `val_loss` (Keras's default), else `loss`, and min_delta
    Keras's default. A decrease at an epoch where the monitor improved came
    from something else (a schedule) and is left out; when that is true of
    most decreases, the LR follows a schedule and none is kept.
    """
    monitor = _guess_monitor(view)
    if monitor is None:
        return []
    values = view.metric(monitor)
    mode = keras_logs.mode_for(monitor)
    best = None
    improved_at = set()
    for epoch, value in values.items():
        if keras_logs.improved(value, best, mode, FALLBACK_MIN_DELTA):
            best = value
            improved_at.add(epoch)
    judged = [r for r in reductions if r["epoch"] in values]
    out = [
        dict(r, monitor=monitor, mode=mode, min_delta=FALLBACK_MIN_DELTA)
        for r in judged
        if r["epoch"] not in improved_at
    ]
    if 2 * len(out) < len(judged):
        return []  # mostly at improving epochs: the LR follows a schedule
    return out


def _best_through(values, epoch, mode):
    best = None
    for e, v in values.items():
        if e > epoch:
            break
        if keras_logs.improved(v, best, mode):
            best = v
    return best


def _reduction_ineffective(view):
    reductions = _reductions(view)
    if not reductions:
        return []
    last_epoch = max(view.epoch_ends) if view.epoch_ends else None
    findings = []
    for i, r in enumerate(reductions):
        if not r["monitor"]:
            continue
        values = view.metric(r["monitor"])
        if not values:
            continue
        last = max(last_epoch if last_epoch is not None else -1, max(values))
        epoch = r["epoch"]
        if r["plateau"] and r["patience"] is not None:
            window = int(max(r["patience"], 1))
            end = epoch + window
            if end > last:
                continue  # the run stopped before the window closed
            how = f"within the next {window} epoch{'s' if window != 1 else ''}"
        else:
            nxt = reductions[i + 1]["epoch"] if i + 1 < len(reductions) else None
            if nxt is not None:
                end = nxt
                how = f"before the next reduction at {_epoch_word(nxt)}"
            elif last - epoch >= FALLBACK_WINDOW_EPOCHS:
                end = last
                how = f"in the remaining {last - epoch} epochs"
            else:
                continue
        best = r["best"] if r["best"] is not None else _best_through(values, epoch, r["mode"])
        if best is None:
            continue
        window_values = [v for e, v in values.items() if epoch < e <= end]
        if not window_values:
            continue
        delta = float(r["min_delta"] or 0.0)
        if any(keras_logs.improved(v, best, r["mode"], delta) for v in window_values):
            continue
        by = f" by min_delta={_fmt(delta)}" if delta else ""
        findings.append(
            _finding(
                REDUCTION_INEFFECTIVE,
                WARNING,
                epoch,
                r["step"],
                f"The LR reduction from {fmt_lr(r['old_lr'])} to {fmt_lr(r['new_lr'])} at "
                f"{_epoch_word(epoch)} did not help: {r['monitor']} did not improve on "
                f"{_fmt(best)}{by} {how}.",
            )
        )
    return findings


def _reduction_every_epoch(view):
    reductions = _reductions(view)
    findings = []
    streak = []
    for r in reductions + [None]:
        if r is not None and streak and r["epoch"] - streak[-1]["epoch"] <= THRASH_MAX_GAP:
            streak.append(r)
            continue
        if len(streak) >= THRASH_MIN_REDUCTIONS:
            first, last = streak[0], streak[-1]
            every = (
                "every epoch"
                if all(b["epoch"] - a["epoch"] == 1 for a, b in itertools.pairwise(streak))
                else f"every {THRASH_MAX_GAP} epochs or less"
            )
            settings = ""
            if first["patience"] is not None:
                settings = (
                    f" with patience={int(first['patience'])} and "
                    f"cooldown={int(first['cooldown'] or 0)}"
                )
            findings.append(
                _finding(
                    REDUCTION_EVERY_EPOCH,
                    WARNING,
                    first["epoch"],
                    first["step"],
                    f"The LR was cut {len(streak)} times in a row, {every}, from "
                    f"{_epoch_word(first['epoch'])} to {_epoch_word(last['epoch'])} "
                    f"({fmt_lr(first['old_lr'])} to {fmt_lr(last['new_lr'])}){settings}: "
                    f"the metric had no time to respond; raise cooldown, patience or "
                    f"min_delta.",
                    reductions=len(streak),
                )
            )
        streak = [r] if r is not None else []
    return findings


def _min_lr_reached(view):
    run = view.run
    floors = [e for e in run.events if e.get("kind") == "min_lr_floor"]
    findings = []
    optimizers = sorted(
        {e.get("optimizer") for e in run.events if e.get("kind") in ("reduction", "min_lr_floor")},
        key=lambda o: o or "",
    )
    for opt in optimizers:

        def mine(e, opt=opt):
            return e.get("optimizer") == opt

        reached = None
        for ev in run.events:
            if ev.get("kind") != "reduction" or not mine(ev):
                continue
            new, floor = ev.get("new_lr"), ev.get("min_lr")
            if _finite(new) and _finite(floor) and floor > 0 and new <= floor * (1 + LR_RTOL):
                reached = ev
                break
        my_floors = [e for e in floors if mine(e)]
        if reached is None and my_floors:
            reached = my_floors[0]
            ignored = my_floors
            lead = (
                f"The LR ({fmt_lr(reached.get('lr'))}) was already at min_lr="
                f"{fmt_lr(reached.get('min_lr'))} at {_epoch_word(reached.get('epoch'))}"
            )
        elif reached is not None:
            ignored = [e for e in my_floors if e.get("step", 0) >= reached.get("step", 0)]
            lead = (
                f"The LR reached min_lr={fmt_lr(reached.get('min_lr'))} at "
                f"{_epoch_word(reached.get('epoch'))}"
            )
        else:
            continue
        multi = len(run.optimizers) > 1 or len(optimizers) > 1
        name = f" for optimizer {opt}" if opt and multi else ""
        if ignored:
            epochs = [e.get("epoch") for e in ignored if isinstance(e.get("epoch"), int)]
            span = (
                f" ({_epoch_word(epochs[0])} to {epochs[-1] + 1})"
                if len(epochs) > 1
                else (f" ({_epoch_word(epochs[0])})" if epochs else "")
            )
            tail = (
                f"; ReduceLROnPlateau then ignored {len(ignored)} plateau"
                f"{'s' if len(ignored) != 1 else ''}{span} because it could go no lower."
            )
            severity = WARNING
        else:
            tail = "; no plateau came after it."
            severity = INFO
        findings.append(
            _finding(
                MIN_LR_REACHED,
                severity,
                reached.get("epoch"),
                reached.get("step"),
                lead + name + tail,
                ignored_plateaus=len(ignored),
            )
        )
    return findings


def _monitor_missing(view):
    run = view.run
    findings = []
    by_monitor = {}
    for item in run.plateau:
        by_monitor.setdefault(item.get("monitor"), []).append(item)
    for monitor, items in by_monitor.items():
        missing = [i for i in items if i.get("value") is None]
        if not missing:
            continue
        first = missing[0]
        available = _available_metrics(run, first.get("epoch"))
        avail = f" (logged: {', '.join(available)})" if available else ""
        if len(missing) == len(items):
            message = (
                f"ReduceLROnPlateau monitors '{monitor}', which was missing from the logs of "
                f"all {len(items)} epochs{avail}, so it never reduced the LR."
            )
            severity = WARNING
        else:
            message = (
                f"ReduceLROnPlateau monitors '{monitor}', which was missing from the logs of "
                f"{len(missing)} of {len(items)} epochs{avail}; it judged plateaus on the "
                f"other epochs only."
            )
            severity = INFO
        findings.append(
            _finding(MONITOR_MISSING, severity, first.get("epoch"), first.get("step"), message)
        )
    if by_monitor or not run.epochs:
        return findings
    # No plateau state recorded: check the monitors the events name.
    logged = set()
    for item in run.epochs:
        if isinstance(item.get("logs"), dict):
            logged.update(item["logs"])
    for ev in run.events:
        monitor = ev.get("monitor")
        if monitor and monitor not in logged and monitor not in by_monitor:
            by_monitor[monitor] = []
            findings.append(
                _finding(
                    MONITOR_MISSING,
                    WARNING,
                    ev.get("epoch"),
                    ev.get("step"),
                    f"ReduceLROnPlateau monitors '{monitor}', which is in none of the epoch "
                    f"logs (logged: {', '.join(sorted(logged))}).",
                )
            )
    return findings


def _available_metrics(run, epoch):
    for item in run.epochs:
        if item.get("epoch") == epoch and isinstance(item.get("logs"), dict):
            return sorted(k for k in item["logs"] if not k.startswith("learning_rate"))
    return []


# -- planned vs actual ------------------------------------------------------


def _close(a, b, atol):
    return np.abs(a - b) <= LR_RTOL * np.maximum(np.abs(a), np.abs(b)) + atol


def _boundaries(run, optimizer):
    """Steps where the ratio actual/planned may legitimately change.

    Returns:
      Sorted `(step, events, session)`: the LR-changing events at that step
      (for this optimizer or for all), and whether a new `fit` started there.
    """
    by_step = {}
    for ev in run.events:
        if ev.get("kind") not in _EXPLAINING_EVENTS or not _finite(ev.get("step")):
            continue
        if ev.get("optimizer") not in (None, optimizer):
            continue
        by_step.setdefault(float(ev["step"]), ([], []))[0].append(ev)
    for session in run.sessions[1:]:
        start = session.get("start_step")
        if _finite(start):
            by_step.setdefault(float(start), ([], []))[1].append(session)
    return [(s, evs, bool(sessions)) for s, (evs, sessions) in sorted(by_step.items())]


def _ratio_at(planned, actual, atol):
    nz = np.flatnonzero(np.abs(planned) > atol)
    if not len(nz):
        return None
    i = nz[0]
    return float(actual[i] / planned[i])


def _claim_holds(events, actual_first, planned_first, k_prev, atol):
    """Whether the LR after `events` is what they say it became."""
    claims = [
        (e.get("old_lr"), e.get("new_lr"))
        for e in events
        if _finite(e.get("old_lr")) and _finite(e.get("new_lr"))
    ]
    if not claims:
        return True
    if len(claims) > 1:
        claims.append((claims[0][0], claims[-1][1]))
    for old, new in claims:
        if _close(actual_first, new, atol):
            return True
        if old > 0 and _close(actual_first, k_prev * planned_first * new / old, atol):
            return True
    return False


def _same_ratio(a, b):
    return math.isclose(a, b, rel_tol=4 * LR_RTOL)


def _plan_deviation(view):
    run = view.run
    findings = []
    for name, rows in sorted(run.optimizers.items()):
        rows = rows[np.isfinite(rows[:, 1]) & np.isfinite(rows[:, 2])]
        if not len(rows):
            continue
        steps, planned, actual = rows[:, 0], rows[:, 1], rows[:, 2]
        peak = float(max(np.abs(planned).max(), np.abs(actual).max()))
        atol = LR_RTOL * peak
        bounds = _boundaries(run, name)
        edges = [-math.inf] + [b[0] for b in bounds] + [math.inf]
        k = 1.0
        for j in range(len(edges) - 1):
            lo, hi = edges[j], edges[j + 1]
            sel = np.flatnonzero((steps > lo) & (steps <= hi))
            if not len(sel):
                continue
            override = None
            first = sel[0]
            if j > 0:
                _, evs, session = bounds[j - 1]
                k_new = _ratio_at(planned[sel], actual[sel], atol)
                explained = bool(evs) and _claim_holds(evs, actual[first], planned[first], k, atol)
                if session and k_new is not None:
                    # A new fit may carry the ratio on or re-base its plan.
                    explained |= _same_ratio(k_new, k) or _same_ratio(k_new, 1.0)
                if explained:
                    k = k_new if k_new is not None else k
                elif evs:
                    override = _describe(evs)
                else:
                    override = "resuming the training"
            if override:
                step = int(steps[first])
                opt = f" of optimizer {name}" if len(run.optimizers) > 1 else ""
                findings.append(
                    _finding(
                        PLAN_DEVIATION,
                        WARNING,
                        view.epoch_of_step(step),
                        step,
                        f"From step {step} the LR{opt} was {fmt_lr(actual[first])}, not what "
                        f"{override} set: something overrode it (a LearningRateScheduler or a "
                        f"callback assigning the LR?).",
                    )
                )
                continue
            ok = _close(actual[sel], k * planned[sel], atol)
            # A row at exactly an event's step may already carry the new LR.
            if j + 1 < len(edges) - 1:
                at_edge = steps[sel] == hi
                if at_edge.any():
                    nxt = np.flatnonzero(steps > hi)
                    if len(nxt):
                        k_next = _ratio_at(planned[nxt], actual[nxt], atol)
                        if k_next is not None:
                            ok |= at_edge & _close(actual[sel], k_next * planned[sel], atol)
            bad = sel[~ok]
            if not len(bad):
                continue
            i = bad[0]
            step = int(steps[i])
            opt = f" of optimizer {name}" if len(run.optimizers) > 1 else ""
            ratio = f"x{actual[i] / planned[i]:.4g}" if planned[i] else "nonzero"
            findings.append(
                _finding(
                    PLAN_DEVIATION,
                    WARNING,
                    view.epoch_of_step(step),
                    step,
                    f"From step {step} the actual LR{opt} ({fmt_lr(actual[i])}) left the plan "
                    f"({fmt_lr(planned[i])}; {ratio} where x{k:.4g} was expected) on "
                    f"{len(bad)} of {len(sel)} steps, and no event explains it.",
                )
            )
    return findings


def _describe(events):
    ev = events[-1]
    what = {
        "reduction": "ReduceLROnPlateau",
        "scheduler": "the LearningRateScheduler",
        "lr_change": "the LR change",
    }.get(ev.get("kind"), "the event")
    return f"{what} at {_epoch_word(ev.get('epoch'))} ({fmt_lr(ev.get('new_lr'))})"


# -- LearningRateScheduler vs ReduceLROnPlateau -------------------------------


def _scheduler_conflict(view):
    """Which callback won when a scheduler and plateau reductions both set the LR.

    A reduction followed, at the same step, by a `scheduler` event that sets
    another LR was undone before any update used it: the scheduler won. A
    reduction that stays in effect while a scheduler keeps acting leaves the
    actual LR below the scheduler's plan: ReduceLROnPlateau won.
    """
    findings = []
    events = [e for e in view.run.events if _finite(e.get("step"))]
    optimizers = sorted(
        {e.get("optimizer") for e in events if e.get("kind") == "scheduler"}, key=str
    )
    for name in optimizers:
        mine = [e for e in events if e.get("optimizer") in (None, name)]
        reductions = [e for e in mine if e.get("kind") == "reduction"]
        if not reductions:
            continue
        undone = []
        for red in reductions:
            after = [
                e
                for e in mine
                if e.get("kind") == "scheduler"
                and e["step"] == red["step"]
                and mine.index(e) > mine.index(red)
            ]
            # Undone: the scheduler put the LR back to (or above) where the
            # reduction started, instead of building on the reduced LR.
            if (
                after
                and _finite(after[-1].get("new_lr"))
                and _finite(red.get("old_lr"))
                and (after[-1]["new_lr"] >= red["old_lr"] * (1 - 4 * LR_RTOL))
            ):
                undone.append(red)
        first = (undone or reductions)[0]
        label = f" ({name})" if name else ""
        if undone:
            epochs = [_epoch_word(e) for e in sorted({e.get("epoch") for e in undone} - {None})]
            findings.append(
                _finding(
                    SCHEDULER_CONFLICT,
                    WARNING,
                    first.get("epoch"),
                    first.get("step"),
                    f"LearningRateScheduler won{label}: it undid {len(undone)} of "
                    f"{len(reductions)} ReduceLROnPlateau reduction(s) ({', '.join(epochs[:3])}"
                    f"{', ...' if len(epochs) > 3 else ''}) at the next epoch start, so no update "
                    f"used them; make the schedule build on the current LR (schedule(epoch, lr)) "
                    f"or drop one of the two callbacks.",
                    reductions=len(reductions),
                    undone=len(undone),
                )
            )
            continue
        rows = view.run.optimizers.get(name)
        if rows is None or not len(rows):
            continue
        last = rows[-1]
        if _finite(last[1]) and _finite(last[2]) and last[2] < last[1] * (1 - 4 * LR_RTOL):
            findings.append(
                _finding(
                    SCHEDULER_CONFLICT,
                    INFO,
                    first.get("epoch"),
                    first.get("step"),
                    f"ReduceLROnPlateau won{label}: its {len(reductions)} reduction(s) stay in "
                    f"effect and LearningRateScheduler builds on them, so the LR ends at "
                    f"{fmt_lr(last[2])}, {last[1] / last[2]:.3g}x below the scheduler's plan "
                    f"({fmt_lr(last[1])}).",
                    reductions=len(reductions),
                )
            )
    return findings


# -- resumes ----------------------------------------------------------------


def _schedule_restart(view):
    run = view.run
    findings = []
    for i, session in enumerate(run.sessions):
        start = session.get("start_step")
        initial = session.get("initial_epoch")
        if not _finite(start):
            continue
        start = int(start)
        initial = int(initial) if _finite(initial) else 0
        if initial > 0 and start < initial:
            warmup = _warmup_note(run, start)
            findings.append(
                _finding(
                    SCHEDULE_RESTART,
                    WARNING,
                    initial,
                    start,
                    f"Training resumed at {_epoch_word(initial)} (initial_epoch={initial}) but "
                    f"the optimizer's step counter started over at {start}, so step-based "
                    f"schedules restarted{warmup}; restore the optimizer with the model "
                    f"(model.save / keras.models.load_model).",
                )
            )
            continue
        if i == 0:
            continue
        if start == 0:
            findings.append(
                _finding(
                    SCHEDULE_RESTART,
                    INFO,
                    initial,
                    0,
                    "A new fit started over from step 0 in this run's directory; the records "
                    "of the earlier fit are superseded.",
                )
            )
            continue
        for name, rows in sorted(run.optimizers.items()):
            jump = _lr_jump(rows, start, _lr_events(run, name))
            if jump is None:
                continue
            before, after, step = jump
            opt = f" of optimizer {name}" if len(run.optimizers) > 1 else ""
            findings.append(
                _finding(
                    SCHEDULE_RESTART,
                    WARNING,
                    view.epoch_of_step(step),
                    step,
                    f"When training resumed at step {start}, the LR{opt} jumped back up from "
                    f"{fmt_lr(before)} to {fmt_lr(after)}: the optimizer's LR was not "
                    f"restored, undoing earlier reductions.",
                )
            )
    return findings


def _lr_events(run, optimizer):
    return [
        e
        for e in run.events
        if e.get("kind") in _EXPLAINING_EVENTS
        and e.get("optimizer") in (None, optimizer)
        and _finite(e.get("step"))
        and _finite(e.get("new_lr"))
    ]


def _lr_jump(rows, start, events):
    """`(before, after, step)` if the LR rose above where the run left off."""
    before = rows[rows[:, 0] <= start]
    after = rows[rows[:, 0] > start]
    if not len(before) or not len(after):
        return None
    last, p0, a0 = before[-1]
    step, p1, a1 = after[0]
    # A change made after the last update (a reduction at the end of the
    # previous fit's last epoch) is where the run really left off.
    for ev in events:
        if last <= ev["step"] <= start:
            a0 = ev["new_lr"]
    if not all(math.isfinite(x) for x in (p0, a0, p1, a1)) or p0 <= 0:
        return None
    # Higher than where it left off, and higher than its plan continued.
    expected = a0 / p0 * p1
    if a1 > a0 * RESTART_JUMP and a1 > expected * RESTART_JUMP:
        return float(a0), float(a1), int(step)
    return None


def _warmup_note(run, start):
    for rows in run.optimizers.values():
        after = rows[rows[:, 0] > start]
        if len(after) > 2 and after[0, 1] < after[:, 1].max() * 0.5:
            return " (the warmup ran again)"
    return ""


# -- loss after an LR increase ---------------------------------------------


def _increase_points(view):
    """The LR's rises: a jump, or a ramp such as a warmup, up to its end.

    Returns:
      Sorted `(start, end, old_lr, new_lr, first_epoch)`. From per-step
      data, `start` is the first update at a raised LR and `end` the first
      at the top of the rise (`first_epoch` None); from Keras's epoch LRs,
      `start`/`end` are None and `first_epoch` is the first epoch trained
      at the new LR.
    """
    points = set()
    for rows in view.run.optimizers.values():
        rows = rows[np.isfinite(rows[:, 2])]
        if len(rows) < 2:
            continue
        actual = rows[:, 2]
        atol = LR_RTOL * float(np.abs(actual).max())
        up = actual[1:] > actual[:-1] + LR_RTOL * np.abs(actual[:-1]) + atol
        for i in np.flatnonzero(up) + 1:
            if i + 1 < len(rows) and up[i]:
                continue  # still rising
            j = i - 1
            while j > 0 and up[j - 1]:
                j -= 1
            start, end = int(rows[j + 1, 0]), int(rows[i, 0])
            points.add((start, end, float(actual[j]), float(actual[i]), None))
    if view.fallback:
        for ev in view.events:
            old, new = ev.get("old_lr"), ev.get("new_lr")
            if _finite(old) and _finite(new) and new > old * (1 + LR_RTOL):
                # Under "after" the new value first shows at the epoch it is
                # attributed to; under "during" the epoch after.
                first = ev["epoch"] + (0 if view.timing == keras_logs.TIMING_AFTER else 1)
                points.add((None, None, float(old), float(new), first))
    return sorted(points, key=lambda p: (p[0] is None, p[0] or 0, p[4] or 0))


def _loss_spike(view):
    points = _increase_points(view)
    if not points:
        return []
    loss = view.batch_loss()
    findings = []
    seen = set()
    for start, end, old, new, first_epoch in points:
        spike = None
        covered = False
        if start is not None and len(loss):
            window = (loss[:, 0] > start) & (loss[:, 0] <= end + SPIKE_WINDOW_STEPS)
            covered = bool(window.any())
            if covered:
                spike = _step_spike(loss, start, end)
        if not covered:
            if first_epoch is None:
                first_epoch = view.epoch_of_step(start)
            spike = _epoch_spike(view, first_epoch)
        if spike is None:
            continue
        at_step, at_epoch, what = spike
        if at_epoch is None:
            at_epoch = view.epoch_of_step(at_step)
        if (at_step, at_epoch) in seen:
            continue
        seen.add((at_step, at_epoch))
        if start is None:
            where = f"the start of {_epoch_word(first_epoch)}"
        elif start == end:
            where = f"step {start}"
        else:
            where = f"steps {start}-{end}"
        findings.append(
            _finding(
                LOSS_SPIKE_AFTER_LR_CHANGE,
                WARNING,
                at_epoch,
                at_step,
                f"The loss {what}, right after the LR rose from {fmt_lr(old)} to "
                f"{fmt_lr(new)} at {where}: the new LR is probably too high for this model.",
            )
        )
    return findings


def _step_spike(loss, start, end):
    """Per-step check of one rise; `(step, None, what)` or None.

    The batch loss at step `s` is computed before update `s`, so the first
    loss the raised LR can affect is at `start + 1`.
    """
    steps, values = loss[:, 0], loss[:, 1]
    ref = values[(steps <= start) & (steps > start - SPIKE_REFERENCE_STEPS)]
    if not len(ref) or not np.isfinite(ref).all():
        return None  # no reference, or the loss had already gone bad
    window = np.flatnonzero((steps > start) & (steps <= end + SPIKE_WINDOW_STEPS))
    if not len(window):
        return None
    reference = float(np.median(ref))
    vals = values[window]
    bad = ~np.isfinite(vals)
    if reference > 0:
        bad |= vals > SPIKE_RATIO_STEP * reference
    if not bad.any():
        return None
    i = window[np.flatnonzero(bad)[0]]
    step = int(steps[i])
    if not math.isfinite(values[i]):
        return step, None, f"became {values[i]} at step {step}"
    return step, None, f"rose from {_fmt(reference)} to {_fmt(values[i])} at step {step}"


def _epoch_spike(view, first):
    """Epoch-level check: `first` is the first epoch trained at the new LR."""
    losses = view.metric("loss")
    if not losses or first is None:
        return None
    before = [e for e in losses if e < first]
    if not before:
        return None
    reference = losses[before[-1]]
    for epoch in (first, first + 1):
        value = losses.get(epoch)
        if value is None:
            continue
        if not math.isfinite(value):
            return (view.epoch_ends.get(epoch), epoch, f"became {value} in {_epoch_word(epoch)}")
        if math.isfinite(reference) and reference > 0 and value > SPIKE_RATIO_EPOCH * reference:
            return (
                view.epoch_ends.get(epoch),
                epoch,
                f"rose from {_fmt(reference)} to {_fmt(value)} in {_epoch_word(epoch)}",
            )
    return None
