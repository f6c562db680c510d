"""The findings' vocabulary: kinds, severities and the `Finding` value."""

import dataclasses

from tb_lr_plugin import formatting

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

# Also the order of findings at the same step.
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


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding about a run.

    Attributes:
      kind: one of `KINDS`.
      severity: `INFO` or `WARNING`.
      epoch: the 0-based epoch it is about, or `None`.
      step: the optimizer step it is about, or `None`.
      message: one sentence for people.
      extra: further JSON fields of the kind (`reductions`, ...).

    Example:
      >>> Finding.at(MIN_LR_REACHED, INFO, 3, 40.0, "...").to_json()["step"]
      40
    """

    kind: str
    severity: str
    epoch: int | None
    step: int | None
    message: str
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def at(cls, kind, severity, epoch, step, message, **extra):
        """A finding at `epoch` and `step` (any number; non-finite -> `None`)."""
        return cls(kind, severity, _int(epoch), _int(step), message, extra)

    def to_json(self):
        """The finding as the `audit` route and `tb-lr-audit --format json` give it."""
        out = {
            "kind": self.kind,
            "severity": self.severity,
            "epoch": self.epoch,
            "step": self.step,
            "message": self.message,
        }
        out.update(self.extra)
        return out

    def sort_key(self):
        """Findings are listed by step (unknown last), then epoch, then kind."""
        return (
            self.step is None,
            self.step or 0,
            self.epoch if self.epoch is not None else -1,
            KINDS.index(self.kind),
        )


def _int(x):
    return int(x) if formatting.is_finite(x) else None


def epoch_word(epoch):
    """`epoch 4` for epoch 3: users read Keras's progress bar, which counts from 1."""
    return f"epoch {epoch + 1}" if epoch is not None else "an unknown epoch"
