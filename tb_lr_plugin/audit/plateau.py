"""Rules about plateau reductions: `reduction_ineffective`,
`reduction_every_epoch`, `min_lr_reached` and `monitor_missing`.
"""

import itertools

from tb_lr_plugin import formatting as fmt
from tb_lr_plugin import metadata
from tb_lr_plugin.audit import wording
from tb_lr_plugin.audit.finding import (
    INFO,
    MIN_LR_REACHED,
    MONITOR_MISSING,
    REDUCTION_EVERY_EPOCH,
    REDUCTION_INEFFECTIVE,
    WARNING,
    Finding,
    epoch_word,
)
from tb_lr_plugin.audit.view import LR_RTOL
from tb_lr_plugin.sources import keras3

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

# The events that can lower the LR, and those only our plateau callback writes.
_DECREASES = (metadata.EVENT_REDUCTION, metadata.EVENT_LR_CHANGE)
_PLATEAU_EVENTS = (metadata.EVENT_REDUCTION, metadata.EVENT_MIN_LR_FLOOR)


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
        if kind not in (metadata.EVENT_REDUCTION, metadata.EVENT_LR_CHANGE) or not (
            fmt.is_finite(old) and fmt.is_finite(new)
        ):
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
            mode = keras3.mode_for(monitor) if monitor else "min"
        out[epoch] = {
            "epoch": epoch,
            "step": ev.get("step"),
            "old_lr": float(old),
            "new_lr": float(new),
            "monitor": monitor,
            "mode": mode,
            "min_delta": state.get("min_delta") if fmt.is_finite(state.get("min_delta")) else 0.0,
            "patience": ev.get("patience") if fmt.is_finite(ev.get("patience")) else None,
            "cooldown": ev.get("cooldown") if fmt.is_finite(ev.get("cooldown")) else None,
            "best": ev.get("best") if fmt.is_finite(ev.get("best")) else None,
            "plateau": kind == metadata.EVENT_REDUCTION,
            "torch": ev.get("framework") == "torch",
        }
    reductions = [out[e] for e in sorted(out)]
    if any(r["plateau"] for r in reductions):
        return [r for r in reductions if r["plateau"]]
    return _plateau_like(view, reductions)


def _guess_monitor(view):
    for name in (view.monitor, "val_loss", "loss"):
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
    mode = keras3.mode_for(monitor)
    best = None
    improved_at = set()
    for epoch, value in values.items():
        if keras3.improved(value, best, mode, FALLBACK_MIN_DELTA):
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
        if keras3.improved(v, best, mode):
            best = v
    return best


def _epochs_to_next_reduction(r):
    """The epochs a plateau callback gives a reduction before it can cut
    again: Keras reduces when `wait >= patience` (patience epochs), torch
    when `num_bad_epochs > patience` (one more)."""
    return int(max(r["patience"] + (1 if r["torch"] else 0), 1))


def reduction_ineffective(view):
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
            window = _epochs_to_next_reduction(r)
            end = epoch + window
            if end > last:
                continue  # the run stopped before the window closed
            how = f"within the next {window} epoch{'s' if window != 1 else ''}"
        else:
            nxt = reductions[i + 1]["epoch"] if i + 1 < len(reductions) else None
            if nxt is not None:
                end = nxt
                how = f"before the next reduction at {epoch_word(nxt)}"
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
        if any(keras3.improved(v, best, r["mode"], delta) for v in window_values):
            continue
        by = f" by min_delta={fmt.number(delta)}" if delta else ""
        findings.append(
            Finding.at(
                REDUCTION_INEFFECTIVE,
                WARNING,
                epoch,
                r["step"],
                f"The LR reduction from {fmt.lr(r['old_lr'])} to {fmt.lr(r['new_lr'])} at "
                f"{epoch_word(epoch)} did not help: {r['monitor']} did not improve on "
                f"{fmt.number(best)}{by} {how}.",
            )
        )
    return findings


def reduction_every_epoch(view):
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
                Finding.at(
                    REDUCTION_EVERY_EPOCH,
                    WARNING,
                    first["epoch"],
                    first["step"],
                    f"The LR was cut {len(streak)} times in a row, {every}, from "
                    f"{epoch_word(first['epoch'])} to {epoch_word(last['epoch'])} "
                    f"({fmt.lr(first['old_lr'])} to {fmt.lr(last['new_lr'])}){settings}: "
                    f"the metric had no time to respond; raise cooldown, patience or "
                    f"{'threshold' if first['torch'] else 'min_delta'}.",
                    reductions=len(streak),
                )
            )
        streak = [r] if r is not None else []
    return findings


def min_lr_reached(view):
    run = view.run
    floors = [e for e in run.events if e.get("kind") == metadata.EVENT_MIN_LR_FLOOR]
    optimizers = sorted(
        {e.get("optimizer") for e in run.events if e.get("kind") in _PLATEAU_EVENTS},
        key=lambda o: o or "",
    )
    multi = len(run.optimizers) > 1 or len(optimizers) > 1
    findings = []
    for opt in optimizers:
        mine = [e for e in floors if e.get("optimizer") == opt]
        reached = _reached_floor(run.events, opt)
        already = reached is None
        if already and not mine:
            continue
        if already:
            reached, ignored = mine[0], mine
        else:
            ignored = [e for e in mine if e.get("step", 0) >= reached.get("step", 0)]
        epochs = [e.get("epoch") for e in ignored if isinstance(e.get("epoch"), int)]
        message = wording.min_lr_reached(
            reached, already, opt if multi else None, epochs, len(ignored)
        )
        findings.append(
            Finding.at(
                MIN_LR_REACHED,
                WARNING if ignored else INFO,
                reached.get("epoch"),
                reached.get("step"),
                message,
                ignored_plateaus=len(ignored),
            )
        )
    return findings


def _reached_floor(events, optimizer):
    """The first reduction of `optimizer` that brought its LR to `min_lr`."""
    for ev in events:
        if ev.get("kind") != metadata.EVENT_REDUCTION or ev.get("optimizer") != optimizer:
            continue
        new, floor = ev.get("new_lr"), ev.get("min_lr")
        if fmt.is_finite(new) and fmt.is_finite(floor) and floor > 0:
            if new <= floor * (1 + LR_RTOL):
                return ev
    return None


def monitor_missing(view):
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
            Finding.at(MONITOR_MISSING, severity, first.get("epoch"), first.get("step"), message)
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
                Finding.at(
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
