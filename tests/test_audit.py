"""The audit engine on small real trainings, one crafted per finding kind.

Every training is a tiny Dense model on 256 synthetic samples (6 steps per
epoch with a validation split, 8 without), so each takes a second or two.
The runs are read back with the CLI's loader, as `tb-lr-audit` reads them.

Tricks used to make Keras's decisions deterministic: `min_delta=10` means
no epoch ever counts as an improvement, so `ReduceLROnPlateau` reduces
exactly every `patience` epochs after the first.
"""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import training  # noqa: E402
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau  # noqa: E402

from tb_lr_plugin import audit, loader  # noqa: E402

# Keras 3.15 on numpy 2 warns inside its own code; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

_cache = {}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("audit_runs")


def fit(log_dir, optimizer, epochs, callbacks, *, validation=True, model=None, **kw):
    x, y = training.data(256, noise=kw.pop("noise", 0.5))
    model = model or training.model(optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about a missing monitor
        model.fit(
            x,
            y,
            epochs=epochs,
            batch_size=32,
            verbose=0,
            validation_split=0.25 if validation else 0.0,
            callbacks=callbacks,
            **kw,
        )
    return model


def read(log_dir):
    run = loader.load(str(log_dir)).runs["."]
    return run, audit.find(run.data, run.keras)


def scenario(runs_dir, name, train):
    """Trains `name` once per session; returns `(Run, findings)`."""
    if name not in _cache:
        log_dir = runs_dir / name
        train(str(log_dir))
        _cache[name] = read(log_dir)
    return _cache[name]


def kinds(findings):
    return [f["kind"] for f in findings]


def of_kind(findings, kind):
    return [f for f in findings if f["kind"] == kind]


def events(run, kind):
    return [e for e in run.data.events if e["kind"] == kind]


def check_shape(findings):
    for f in findings:
        assert set(f) >= {"kind", "severity", "epoch", "step", "message"}
        assert f["kind"] in audit.KINDS and f["severity"] in ("info", "warning")
        assert f["message"].endswith(".") and "\n" not in f["message"]


# -- clean runs ----------------------------------------------------------------


def test_clean_run_with_a_helpful_reduction_has_no_findings(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.2),
            12,
            [
                ReduceLROnPlateau(patience=1, factor=0.5),
                LearningRateLogger(d),
                keras.callbacks.TensorBoard(d),
            ],
        )

    run, findings = scenario(runs_dir, "clean", train)
    # The reduction really happened, the actual LR left the constant plan,
    # and Keras's own TensorBoard scalars were attached: still nothing.
    assert len(events(run, "reduction")) == 1
    rows = run.data.optimizers["sgd"]
    assert (rows[:, 2] < rows[:, 1]).any()
    assert run.keras and "epoch_learning_rate" in run.keras["train"]
    assert findings == []


def test_clean_warmup_schedule_has_no_findings(runs_dir):
    def train(d):
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=60, warmup_target=0.05, warmup_steps=12
        )
        fit(d, keras.optimizers.SGD(schedule), 12, [LearningRateLogger(d)])

    run, findings = scenario(runs_dir, "warmup", train)
    actual = run.data.optimizers["sgd"][:, 2]
    assert actual.argmax() > 5  # the LR rose, and the warmup ended inside the run
    assert findings == []


# -- ReduceLROnPlateau ---------------------------------------------------------


def test_reduction_ineffective(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            10,
            [ReduceLROnPlateau(patience=3, factor=0.5, min_delta=10.0), LearningRateLogger(d)],
        )

    run, findings = scenario(runs_dir, "ineffective", train)
    check_shape(findings)
    reductions = events(run, "reduction")
    assert [e["epoch"] for e in reductions] == [3, 6, 9]
    got = [(f["epoch"], f["step"]) for f in of_kind(findings, "reduction_ineffective")]
    # The reduction at epoch 9 is not judged: the run ended before its window.
    assert got == [(e["epoch"], e["step"]) for e in reductions[:2]]
    assert all(f["severity"] == "warning" for f in of_kind(findings, "reduction_ineffective"))
    # Reductions three epochs apart are not thrashing; all are explained.
    assert set(kinds(findings)) == {"reduction_ineffective"}


def test_reduction_every_epoch(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            6,
            [ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0), LearningRateLogger(d)],
        )

    run, findings = scenario(runs_dir, "thrashing", train)
    reductions = events(run, "reduction")
    assert [e["epoch"] for e in reductions] == [1, 2, 3, 4, 5]
    (thrash,) = of_kind(findings, "reduction_every_epoch")
    assert (thrash["epoch"], thrash["step"]) == (1, reductions[0]["step"])
    assert thrash["reductions"] == 5 and "every epoch" in thrash["message"]
    assert "plan_deviation" not in kinds(findings)


def test_min_lr_reached_counts_the_ignored_plateaus(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            8,
            [
                ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0, min_lr=0.0025),
                LearningRateLogger(d),
            ],
        )

    run, findings = scenario(runs_dir, "min_lr", train)
    reductions = events(run, "reduction")
    floors = events(run, "min_lr_floor")
    assert [e["epoch"] for e in reductions] == [1, 2] and len(floors) == 5
    (found,) = of_kind(findings, "min_lr_reached")
    assert (found["epoch"], found["step"]) == (2, reductions[-1]["step"])
    assert found["ignored_plateaus"] == 5 and found["severity"] == "warning"
    assert "5 plateaus" in found["message"]


def test_monitor_missing(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            4,
            [
                ReduceLROnPlateau(monitor="val_accuracy", mode="max", patience=1),
                LearningRateLogger(d),
            ],
            validation=False,
        )

    run, findings = scenario(runs_dir, "monitor_missing", train)
    (found,) = of_kind(findings, "monitor_missing")
    first = run.data.epochs[0]
    assert (found["epoch"], found["step"]) == (0, first["step"]) == (0, 8)
    assert found["severity"] == "warning" and "'val_accuracy'" in found["message"]
    assert kinds(findings) == ["monitor_missing"]


# -- planned vs actual ---------------------------------------------------------


def test_plan_deviation_when_a_scheduler_undoes_reductions(runs_dir):
    # A LearningRateScheduler that always sets 0.01 silently undoes every
    # ReduceLROnPlateau reduction at the next epoch's start.
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            6,
            [
                keras.callbacks.LearningRateScheduler(lambda epoch: 0.01),
                ReduceLROnPlateau(patience=2, factor=0.5, min_delta=10.0),
                LearningRateLogger(d),
            ],
        )

    run, findings = scenario(runs_dir, "overridden", train)
    reductions = events(run, "reduction")
    assert [e["epoch"] for e in reductions] == [2, 4]
    deviations = of_kind(findings, "plan_deviation")
    # From the first update after each reduction, in the epoch after it.
    assert [(f["epoch"], f["step"]) for f in deviations] == [
        (e["epoch"] + 1, e["step"] + 1) for e in reductions
    ]
    assert "overrode" in deviations[0]["message"]


def test_stock_reductions_logged_as_lr_change_are_explained(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            6,
            [
                keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0),
                LearningRateLogger(d),
            ],
        )

    run, findings = scenario(runs_dir, "stock_rlrop", train)
    assert len(events(run, "lr_change")) >= 4
    assert "plan_deviation" not in kinds(findings)


# -- resumes ---------------------------------------------------------------------


def _warmup():
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=200, warmup_target=0.02, warmup_steps=16
    )


def test_schedule_restart_when_the_step_counter_starts_over(runs_dir):
    # Resuming with load_weights + a fresh optimizer: initial_epoch=3 but
    # optimizer.iterations is 0 again, so the warmup runs a second time.
    def train(d):
        model = fit(
            d, keras.optimizers.SGD(_warmup()), 3, [LearningRateLogger(d)], validation=False
        )
        resumed = training.model(keras.optimizers.SGD(_warmup()))
        resumed.set_weights(model.get_weights())
        fit(d, None, 6, [LearningRateLogger(d)], validation=False, model=resumed, initial_epoch=3)

    run, findings = scenario(runs_dir, "restart", train)
    assert [(s["start_step"], s["initial_epoch"]) for s in run.data.sessions] == [(0, 0), (0, 3)]
    (found,) = of_kind(findings, "schedule_restart")
    assert (found["epoch"], found["step"], found["severity"]) == (3, 0, "warning")
    assert "warmup ran again" in found["message"]


def test_schedule_restart_when_the_lr_jumps_back_up(runs_dir):
    # The LR is reset by hand between two fit() calls of the same model,
    # undoing three ReduceLROnPlateau reductions.
    def train(d):
        model = fit(
            d,
            keras.optimizers.SGD(0.01),
            4,
            [ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0), LearningRateLogger(d)],
        )
        model.optimizer.learning_rate = 0.01
        fit(d, None, 7, [LearningRateLogger(d)], model=model, initial_epoch=4)

    run, findings = scenario(runs_dir, "lr_jump", train)
    start = run.data.sessions[1]["start_step"]
    assert start == 24
    (found,) = of_kind(findings, "schedule_restart")
    assert (found["epoch"], found["step"]) == (4, start + 1)
    assert "1.25e-3 to 1e-2" in found["message"]
    # A new fit on the same plan is not a plan deviation.
    assert "plan_deviation" not in kinds(findings)


# -- loss after an LR increase ---------------------------------------------------


def test_loss_spike_after_lr_increase(runs_dir):
    def train(d):
        fit(
            d,
            keras.optimizers.SGD(0.01),
            5,
            [
                keras.callbacks.LearningRateScheduler(lambda epoch: 0.01 if epoch < 3 else 5.0),
                LearningRateLogger(d),
            ],
        )

    run, findings = scenario(runs_dir, "spike", train)
    (change,) = events(run, "lr_change")
    assert (change["epoch"], change["new_lr"]) == (2, 5.0)
    (found,) = of_kind(findings, "loss_spike_after_lr_change")
    # The first loss after the change that is non-finite or over 3x the
    # median of the 20 steps before it.
    loss = run.data.batch["loss"]
    before = loss[(loss[:, 0] <= change["step"]) & (loss[:, 0] > change["step"] - 20), 1]
    after = loss[loss[:, 0] > change["step"]]
    bad = after[~np.isfinite(after[:, 1]) | (after[:, 1] > 3 * np.median(before))]
    assert found["step"] == int(bad[0, 0]) <= change["step"] + audit.SPIKE_WINDOW_STEPS
    assert found["epoch"] == 3
    assert "5e0" in found["message"]
