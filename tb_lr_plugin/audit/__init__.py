"""Findings about a run's learning rate: the engine behind the tab and the CLI.

`find_run(run)` takes a `run_model.Run` (`find(data, keras)` builds one
from a `RunData` and Keras's scalars) and returns findings, each a dict
with `kind`, `severity` (`"info"` or `"warning"`), `epoch`, `step` and a
one-sentence `message` (`Finding.to_json()`). It does no I/O, so the
`audit` route and `tb-lr-audit` say the same thing about the same data.

One module per rule family: `plateau` (reduction_ineffective,
reduction_every_epoch, min_lr_reached, monitor_missing), `plan`
(plan_deviation, scheduler_conflict), `resume` (schedule_restart) and
`spike` (loss_spike_after_lr_change); `view` is what they all read and
`finding` the vocabulary. The kinds, their definitions and thresholds are
documented in docs/audit.md; the thresholds are constants of the family
modules, re-exported here.
"""

from tb_lr_plugin import formatting, run_model
from tb_lr_plugin.audit import plan, plateau, resume, spike
from tb_lr_plugin.audit.finding import *  # noqa: F403
from tb_lr_plugin.audit.finding import KINDS, Finding  # noqa: F401
from tb_lr_plugin.audit.plateau import (  # noqa: F401
    FALLBACK_MIN_DELTA,
    FALLBACK_WINDOW_EPOCHS,
    THRASH_MAX_GAP,
    THRASH_MIN_REDUCTIONS,
)
from tb_lr_plugin.audit.resume import RESTART_JUMP  # noqa: F401
from tb_lr_plugin.audit.spike import (  # noqa: F401
    SPIKE_RATIO_EPOCH,
    SPIKE_RATIO_STEP,
    SPIKE_REFERENCE_STEPS,
    SPIKE_WINDOW_STEPS,
)
from tb_lr_plugin.audit.view import LR_RTOL, View  # noqa: F401

# Kept importable from here for code that used it; `formatting.lr` is the one.
fmt_lr = formatting.lr

# Every rule, in the order they run (the result is sorted afterwards).
RULES = (
    plateau.monitor_missing,
    plateau.reduction_ineffective,
    plateau.reduction_every_epoch,
    plateau.min_lr_reached,
    plan.plan_deviation,
    resume.schedule_restart,
    spike.loss_spike,
    plan.scheduler_conflict,
)


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
    view = View(model)
    findings = [f for rule in RULES for f in rule(view)]
    findings.sort(key=Finding.sort_key)
    return [f.to_json() for f in findings]
