"""Recording the decisions of torch's own `ReduceLROnPlateau`, untouched.

`ReduceLROnPlateau.step` is wrapped once, at class level, by a function
that calls torch's own `step` unchanged and, for the schedulers a logger
watches, reads the scheduler's state before and after. An instance
attribute would do the same but land in the scheduler's `state_dict()`
(which is its `__dict__`) and break checkpoints.

Torch's rule, recorded as it is: an epoch is bad unless the value beats
`best` by `threshold` (relative or absolute); during a cooldown bad epochs
are not counted; the LR of each group is reduced when `num_bad_epochs >
patience` (Keras: `wait >= patience`), to `max(lr * factor, min_lrs[i])`,
unless that changes it by no more than `eps`.
"""

import functools
import weakref

from torch.optim import lr_scheduler as sched_lib

from tb_lr_plugin import metadata

_WATCHERS = weakref.WeakKeyDictionary()  # scheduler -> [PlateauRecorder]
_installed = []


def _install():
    if _installed:
        return
    original = sched_lib.ReduceLROnPlateau.step

    @functools.wraps(original)
    def step(self, metrics, *args, **kwargs):
        watchers = _WATCHERS.get(self)
        if not watchers:
            return original(self, metrics, *args, **kwargs)
        before = _snapshot(self)
        result = original(self, metrics, *args, **kwargs)
        for watcher in list(watchers):
            watcher.record(self, metrics, before)
        return result

    sched_lib.ReduceLROnPlateau.step = step
    _installed.append(original)


def _snapshot(s):
    return {
        "best": s.best,
        "num_bad_epochs": s.num_bad_epochs,
        "cooldown_counter": s.cooldown_counter,
        "lrs": [float(g["lr"]) for g in s.optimizer.param_groups],
    }


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class PlateauRecorder:
    """Writes a `plateau` state item and the events of each `step(metric)`.

    Args:
      scheduler: the `torch.optim.lr_scheduler.ReduceLROnPlateau`.
      monitor: the name of the metric passed to `step` (e.g. `"val_loss"`).
      names: a callable returning the parameter groups' series names.
      steps: a callable returning the optimizer steps done.
      sink: called with `(kind, tag, items, step)` for each record.
      epoch: a callable returning the 0-based epoch, or `None` for the
        number of `step` calls before this one.
      write_epochs: also write an `epochs` item holding the monitored value
        (for loops that log no epoch metrics of their own).
      on_record: called after each recorded step (the owner flushes).
    """

    def __init__(
        self, scheduler, monitor, names, steps, sink, epoch=None, write_epochs=True, on_record=None
    ):
        self.scheduler = scheduler
        self.monitor = monitor
        self._names, self._steps, self._sink = names, steps, sink
        self._epoch = epoch
        self._write_epochs = write_epochs
        self._on_record = on_record
        self.failed = None
        _install()
        _WATCHERS.setdefault(scheduler, []).append(self)

    def remove(self):
        watchers = _WATCHERS.get(self.scheduler, [])
        if self in watchers:
            watchers.remove(self)

    def record(self, s, metrics, before):
        try:
            self._record(s, metrics, before)
        except Exception as e:  # noqa: BLE001 - recording never stops training
            self.failed = e
            self.remove()
        if self._on_record is not None:
            self._on_record()

    def _decided(self, s, current, before):
        """Whether torch's rule fired at this step (replayed from the
        state before it, with torch's own comparison)."""
        improved = current is not None and bool(s._is_better(current, before["best"]))
        bad = 0 if improved else before["num_bad_epochs"] + 1
        if before["cooldown_counter"] > 0:
            bad = 0
        return bad > s.patience, bad

    def _record(self, s, metrics, before):
        current = _float(metrics)
        epoch = self._epoch() if self._epoch is not None else int(s.last_epoch) - 1
        step = int(self._steps())
        names = self._names()
        after = [float(g["lr"]) for g in s.optimizer.param_groups]
        triggered, bad = self._decided(s, current, before)
        common = {"monitor": self.monitor, "framework": "torch"}
        rule = dict(
            common,
            patience=s.patience,
            threshold=s.threshold,
            mode=s.mode,
            threshold_mode=s.threshold_mode,
            factor=s.factor,
            eps=s.eps,
            cooldown=s.cooldown,
        )
        events = self._events(
            s,
            epoch,
            step,
            names,
            before,
            after,
            triggered,
            dict(rule, value=current, num_bad_epochs=bad, wait=bad),
        )
        state = metadata.plateau_item(
            epoch,
            step,
            **rule,
            value=current,
            best=_float(s.best),
            wait=s.num_bad_epochs,
            num_bad_epochs=s.num_bad_epochs,
            cooldown_counter=s.cooldown_counter,
            lr=after[0] if after else None,
            lrs=dict(zip(names, after, strict=False)),
            min_lr=s.min_lrs[0] if s.min_lrs else None,
            min_lrs=list(s.min_lrs),
            min_delta=_min_delta(s),
            reduced=any(e["kind"] == metadata.EVENT_REDUCTION for e in events),
        )
        if events:
            self._sink(metadata.KIND_EVENTS, metadata.TAG_EVENTS, events, step)
        self._sink(metadata.KIND_PLATEAU, metadata.TAG_PLATEAU, [state], step)
        if self._write_epochs and current is not None:
            item = metadata.epoch_item(epoch, step, {self.monitor: current})
            self._sink(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], step)

    def _events(self, s, epoch, step, names, before, after, triggered, rule):
        """Cooldown end, then per group a reduction or an ignored one, then
        cooldown start: the order torch's `step` goes through them."""
        cooldown = {"monitor": self.monitor, "framework": "torch", "cooldown": s.cooldown}
        events = []
        if before["cooldown_counter"] > 0 and s.cooldown_counter == 0:
            events.append(
                metadata.event_item(metadata.EVENT_COOLDOWN, epoch, step, phase="end", **cooldown)
            )
        for i, (old, new) in enumerate(zip(before["lrs"], after, strict=False)):
            name = names[i] if i < len(names) else f"pg{i}"
            min_lr = s.min_lrs[i] if i < len(s.min_lrs) else None
            if old != new:
                events.append(
                    metadata.event_item(
                        metadata.EVENT_REDUCTION,
                        epoch,
                        step,
                        **rule,
                        optimizer=name,
                        best=_float(before["best"]),
                        old_lr=old,
                        new_lr=new,
                        min_lr=min_lr,
                    )
                )
            elif triggered:
                floor = min_lr is not None and old * s.factor <= min_lr
                events.append(
                    metadata.event_item(
                        metadata.EVENT_MIN_LR_FLOOR,
                        epoch,
                        step,
                        **rule,
                        optimizer=name,
                        best=_float(s.best),
                        lr=old,
                        min_lr=min_lr,
                        reason="min_lr" if floor else "eps",
                    )
                )
        if triggered and s.cooldown > 0:
            events.append(
                metadata.event_item(metadata.EVENT_COOLDOWN, epoch, step, phase="start", **cooldown)
            )
        return events


def _min_delta(s):
    """The absolute improvement torch asks of the next value (for readers
    that think in Keras's `min_delta`)."""
    if s.threshold_mode == "abs":
        return float(s.threshold)
    best = _float(s.best)
    if best is None or best in (float("inf"), float("-inf")):
        return 0.0
    return abs(best) * float(s.threshold)
