"""The fallback: auditing runs written only by `keras.callbacks.TensorBoard`.

Synthetic scalar dicts pin the rules; small real trainings (stock Keras
callbacks only) check them against what Keras really writes.
"""

import contextlib
import io
import os
import re
import warnings

import numpy as np
import pytest

from tb_lr_plugin import audit, keras_logs

# Keras 3.15 on numpy 2 warns inside its own code; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

LINE = re.compile(r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to ([0-9.eE+-]+)\.")


def series(*values, start=0):
    return np.array([[start + i, v] for i, v in enumerate(values)], dtype=np.float64)


def test_lr_series_single_and_per_optimizer():
    keras = {
        "train": {
            "epoch_learning_rate": series(0.1, 0.1),
            "epoch_learning_rate_head": series(0.01, 0.005),
            "epoch_loss": series(1.0, 0.5),
        }
    }
    lrs = keras_logs.lr_series(keras)
    assert sorted(lrs, key=str) == [None, "head"]
    assert keras_logs.has_lr(keras) and not keras_logs.has_lr({"train": {"epoch_loss": series(1)}})
    assert not keras_logs.has_lr(None)


def test_duplicate_steps_keep_the_last_value():
    arr = np.array([[0, 1.0], [1, 2.0], [1, 3.0]])
    (got,) = keras_logs.lr_series({"train": {"epoch_learning_rate": arr}}).values()
    assert got.tolist() == [[0, 1.0], [1, 3.0]]


@pytest.mark.parametrize("timing, epoch", [("after", 2), ("during", 1)])
def test_fallback_event_epoch_follows_the_timing(timing, epoch):
    keras = {"train": {"epoch_learning_rate": series(1e-3, 1e-3, 5e-4, 5e-4)}}
    (event,) = keras_logs.fallback_events(keras, timing)
    assert event["kind"] == "lr_change" and event["epoch"] == epoch
    assert (event["old_lr"], event["new_lr"], event["step"]) == (1e-3, 5e-4, None)
    assert "optimizer" not in event


def test_multi_optimizer_events_name_the_optimizer():
    keras = {"train": {"epoch_learning_rate_head": series(1e-2, 5e-3)}}
    (event,) = keras_logs.fallback_events(keras, "after")
    assert event["optimizer"] == "head"


def test_float32_noise_is_not_a_change():
    lr = float(np.float32(1e-3))
    keras = {"train": {"epoch_learning_rate": series(lr, 1e-3, lr)}}
    assert keras_logs.fallback_events(keras, "after") == []


def test_epoch_end_steps_from_evaluation_vs_iterations():
    keras = {
        "validation": {
            "epoch_loss": series(0.5, 0.4, 0.4),
            # Also an evaluate() call before fit, with another value.
            "evaluation_loss_vs_iterations": np.array(
                [[0, 0.9], [10, 0.5], [20, 0.4], [30, 0.4]], dtype=np.float64
            ),
        }
    }
    assert keras_logs.epoch_end_steps(keras) == {0: 10, 1: 20, 2: 30}


def test_epoch_end_steps_from_batch_counts_or_unknown():
    batches = np.stack([np.arange(1, 31), np.ones(30)], 1).astype(np.float64)
    keras = {"train": {"epoch_loss": series(1, 1, 1), "batch_loss": batches}}
    assert keras_logs.epoch_end_steps(keras) == {0: 10, 1: 20, 2: 30}
    keras["train"]["batch_loss"] = batches[::2]  # sampled: cannot tell
    assert keras_logs.epoch_end_steps(keras) == {}


def test_mode_for_reads_names_like_keras():
    assert keras_logs.mode_for("val_loss") == "min"
    assert keras_logs.mode_for("val_accuracy") == "max"
    assert keras_logs.mode_for("mean_absolute_error") == "min"


def test_timing_is_inferred_from_a_consistent_replay():
    # A stagnating val_loss; patience 2: reductions at the end of epochs 2, 4, 6.
    val = series(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    after = series(1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 1.25e-4, 1.25e-4)
    during = series(1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 1.25e-4)
    for lr, expected in ((after, "after"), (during, "during")):
        keras = {"train": {"epoch_learning_rate": lr}, "validation": {"epoch_loss": val}}
        assert keras_logs.lr_timing(keras) == expected
        assert [e["epoch"] for e in keras_logs.fallback_events(keras)] == [2, 4, 6]


def test_undecidable_timing_defaults_to_after():
    keras = {"train": {"epoch_learning_rate": series(1e-3, 5e-4)}}
    assert keras_logs.lr_timing(keras) == "after"


def test_fallback_findings_on_synthetic_thrashing():
    lr = series(*(1e-2 / 2**i for i in range(8)))
    val = series(*([1.0] * 8))
    keras = {"train": {"epoch_learning_rate": lr}, "validation": {"epoch_loss": val}}
    found = audit.find(_empty(), keras)
    assert [f["kind"] for f in found].count("reduction_every_epoch") == 1


def _empty():
    from tb_lr_plugin.run_data import RunData

    return RunData()


# -- real trainings with stock Keras callbacks only ---------------------------

keras_mod = pytest.importorskip("keras")


def _train(log_dir, callbacks, epochs, lr, noise=0.5):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import training

    x, y = training.data(256, noise=noise)
    model = training.model(keras_mod.optimizers.SGD(lr))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            x,
            y,
            epochs=epochs,
            batch_size=32,
            verbose=0,
            validation_split=0.25,
            callbacks=callbacks,
        )
    return out.getvalue()


def _load(log_dir):
    from tb_lr_plugin import loader

    return loader.load(str(log_dir)).runs["."]


def test_keras_only_thrashing_run(tmp_path):
    printed = _train(
        tmp_path,
        [
            keras_mod.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, verbose=1),
            keras_mod.callbacks.TensorBoard(str(tmp_path)),
        ],
        epochs=15,
        lr=0.3,
        noise=1.0,
    )
    expected = [(int(n) - 1, float(x)) for n, x in LINE.findall(printed)]
    run = _load(tmp_path)
    assert run.data.empty and run.keras
    events = keras_logs.fallback_events(run.keras)
    assert [e["epoch"] for e in events] == [epoch for epoch, _ in expected]
    assert [e["new_lr"] for e in events] == pytest.approx([lr for _, lr in expected], rel=1e-6)
    # Steps come from validation/evaluation_loss_vs_iterations: 6 per epoch.
    assert [e["step"] for e in events] == [6 * (e["epoch"] + 1) for e in events]
    found = audit.find(run.data, run.keras)
    (thrash,) = [f for f in found if f["kind"] == "reduction_every_epoch"]
    assert thrash["step"] == 6 * (thrash["epoch"] + 1)
    assert {f["kind"] for f in found} <= {"reduction_every_epoch", "reduction_ineffective"}


def test_keras_only_loss_spike_after_an_lr_increase(tmp_path):
    _train(
        tmp_path,
        [
            keras_mod.callbacks.LearningRateScheduler(lambda e: 0.01 if e < 3 else 5.0),
            keras_mod.callbacks.TensorBoard(str(tmp_path)),
        ],
        epochs=5,
        lr=0.01,
    )
    run = _load(tmp_path)
    (event,) = keras_logs.fallback_events(run.keras)
    assert event["new_lr"] == 5.0
    (found,) = audit.find(run.data, run.keras)
    # Epoch 3 (0-based) is the first trained at LR 5; its loss exploded.
    assert (found["kind"], found["epoch"], found["step"]) == ("loss_spike_after_lr_change", 3, 24)
