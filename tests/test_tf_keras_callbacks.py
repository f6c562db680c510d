"""The five callbacks on tf_keras (Keras 2): `tb_lr_plugin.callbacks.tf_keras`.

The same checks as on Keras 3, through the same helpers: step-by-step
schedules (new and legacy optimizers), the drop-ins against tf_keras's own
`ReduceLROnPlateau` and `LearningRateScheduler`, `PlateauScheduled` with
save and load, the LR finder, mixed precision, and `tf.keras` under
`TF_USE_LEGACY_KERAS=1`. (The SIGKILL test runs on tf_keras in
test_faults_kill.py.)
"""

import contextlib
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from keras_backend import on_tf_keras
from test_learning_rate_logger import STEPS_PER_EPOCH, assert_float32_equal, plans
from test_plateau_scheduled import check_base_times_factor, cosine_warmup, train
from test_reduce_lr_on_plateau import CONFIGS, SEQUENCES, check_same_decisions
from training import check_reductions_match_printed, data, model, read_run

pytestmark = on_tf_keras
tf_keras = pytest.importorskip("tf_keras")
from tb_lr_plugin.callbacks import tf_keras as cb  # noqa: E402 - needs tf_keras

K = tf_keras
REDUCING = r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\."
OPTIMIZERS = {"new": K.optimizers.SGD, "legacy": K.optimizers.legacy.SGD}


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", sorted(plans(K.optimizers.schedules)))
def test_schedule_planned_and_actual_match_formula_every_step(tmp_path, name, kind):
    schedule, formula = plans(K.optimizers.schedules)[name]
    x, y = data()
    m = model(OPTIMIZERS[kind](schedule), k=K)
    m.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[cb.LearningRateLogger(tmp_path)])
    rows = read_run(tmp_path).optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 5 * STEPS_PER_EPOCH + 1))
    expected = formula(rows[:, 0] - 1)
    assert_float32_equal(rows[:, 1], expected)
    assert_float32_equal(rows[:, 2], expected)


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
def test_same_decisions_as_tf_keras(tmp_path, config, sequence):
    check_same_decisions(tmp_path, config, sequence, cb.ReduceLROnPlateau, K)


@contextlib.contextmanager
def precision(kind):
    """Keras's mixed precision (float16 compute) for `kind="mixed_precision"`."""
    if kind != "mixed_precision":
        yield
        return
    K.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        K.mixed_precision.set_global_policy("float32")


def optimizer(kind, lr, legacy=K.optimizers.legacy.SGD, new=K.optimizers.SGD):
    opt = (legacy if kind == "legacy" else new)(lr)
    if kind == "mixed_precision":
        opt = K.mixed_precision.LossScaleOptimizer(opt)
    return opt


def _fit_plateau(tmp_path, callbacks, kind):
    x, y = data(n=64, noise=2.0)
    out = io.StringIO()
    with precision(kind), contextlib.redirect_stdout(out):
        m = model(optimizer(kind, 0.05), k=K)
        m.fit(x, y, batch_size=8, epochs=20, validation_split=0.25, verbose=0, callbacks=callbacks)
    return m, re.findall(REDUCING, out.getvalue()), read_run(tmp_path)


@pytest.mark.parametrize("kind", ["new", "legacy", "mixed_precision"])
def test_real_training_reductions_match_tf_keras_verbose_lines(tmp_path, kind):
    args = dict(factor=0.5, patience=1, min_delta=0.5, verbose=1)
    m, printed, run = _fit_plateau(
        tmp_path, [cb.ReduceLROnPlateau(**args), cb.LearningRateLogger(tmp_path)], kind
    )
    _, stock_printed, _ = _fit_plateau(tmp_path, [K.callbacks.ReduceLROnPlateau(**args)], kind)
    if kind == "mixed_precision":
        assert m.layers[0].compute_dtype == "float16"
    assert len(printed) >= 2
    assert printed == stock_printed  # the same decisions as tf_keras's own callback
    reductions = check_reductions_match_printed(run, printed, steps_per_epoch=6)
    rows = run.optimizers["sgd"]
    assert len(rows) == 20 * 6
    for e in reductions[:-1] if reductions[-1]["epoch"] == 19 else reductions:
        after = rows[rows[:, 0] == e["step"] + 1]
        assert after[0, 2] == pytest.approx(e["new_lr"], rel=1e-6)
        assert after[0, 1] == pytest.approx(0.05)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_stock_tf_keras_reductions_become_lr_change_events(tmp_path, kind):
    stock = K.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5, verbose=1)
    _, printed, run = _fit_plateau(tmp_path, [cb.LearningRateLogger(tmp_path), stock], kind)
    assert len(printed) >= 2
    changes = [e for e in run.events if e["kind"] == "lr_change"]
    assert [e["epoch"] + 1 for e in changes] == [int(p[0]) for p in printed]
    np.testing.assert_allclose(
        [e["new_lr"] for e in changes], [float(p[1]) for p in printed], rtol=1e-6
    )
    for e in changes:
        assert e["old_lr"] == pytest.approx(e["new_lr"] * 2, rel=1e-6)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_scheduler_sets_the_same_lrs_as_tf_keras_and_records_them(tmp_path, kind):
    def halve_every_3(epoch, lr):
        return lr / 2 if epoch and epoch % 3 == 0 else lr

    x, y = data()

    def lrs(callbacks):
        m = model(OPTIMIZERS[kind](0.1), k=K)
        seen = []
        record = K.callbacks.LambdaCallback(
            on_epoch_end=lambda e, logs: seen.append(float(m.optimizer.lr.numpy()))
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            m.fit(x, y, batch_size=8, epochs=8, verbose=0, callbacks=[*callbacks, record])
        return seen, out.getvalue()

    ours = lrs(
        [cb.LearningRateScheduler(halve_every_3, verbose=1), cb.LearningRateLogger(tmp_path)]
    )
    assert ours == lrs([K.callbacks.LearningRateScheduler(halve_every_3, verbose=1)])
    run = read_run(tmp_path)
    events = [e for e in run.events if e["kind"] == "scheduler"]
    assert [(e["epoch"], e["step"]) for e in events] == [(3, 24), (6, 48)]
    assert not [e for e in run.events if e["kind"] == "lr_change"]
    rows = run.optimizers["sgd"]
    expected = 0.1 / 2 ** ((rows[:, 0] - 1) // 8 // 3)
    np.testing.assert_allclose(rows[:, 1], expected, rtol=1e-6)  # the plan
    np.testing.assert_allclose(rows[:, 2], expected, rtol=1e-6)


def test_plateau_scheduled_actual_is_base_times_the_reduced_factor(tmp_path, capsys):
    m, run = train(tmp_path, k=K, cb=cb, factor=0.5, patience=1, min_delta=10.0, cooldown=1)
    plateau_factor = float(m.optimizer._learning_rate.plateau_factor.numpy())
    check_base_times_factor(run, capsys.readouterr().out, plateau_factor)


def test_plateau_scheduled_factor_is_saved_and_restored(tmp_path):
    m, _ = train(tmp_path / "logs", epochs=6, k=K, cb=cb, factor=0.5, patience=1, min_delta=10)
    factor = float(m.optimizer._learning_rate.plateau_factor.numpy())
    assert factor < 1
    path = tmp_path / "model.keras"
    m.save(path)
    loaded = K.models.load_model(path)
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, cb.PlateauScheduled)
    assert float(schedule.plateau_factor.numpy()) == pytest.approx(factor)
    step = int(loaded.optimizer.iterations.numpy())
    np.testing.assert_allclose(
        float(schedule(step).numpy()), cosine_warmup(step) * factor, rtol=1e-5
    )


@pytest.mark.parametrize("kind", ["new", "legacy", "mixed_precision"])
def test_finder_ramp_is_recorded_and_training_state_restored(tmp_path, kind):
    x, y = data(n=640)
    with precision(kind):
        m = model(optimizer(kind, 0.01, K.optimizers.legacy.Adam, K.optimizers.Adam), k=K)
        m.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)  # build the optimizer
        weights = [w.copy() for w in m.get_weights()]
        state = [np.array(v) for v in cb.TF_KERAS.optimizer_variables(m)]
        finder = cb.LearningRateFinder(tmp_path, verbose=0, min_lr=1e-4, max_lr=3.0, num_steps=60)
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[finder])
    for a, b in zip(m.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(cb.TF_KERAS.optimizer_variables(m), state, strict=True):
        np.testing.assert_array_equal(np.array(a), b)
    assert len(state) >= 3  # the step counter and the moments were compared
    assert float(m.optimizer.lr.numpy()) == pytest.approx(0.01)
    (result,) = read_run(tmp_path).finder
    n = len(result["lr"])
    assert 10 <= n <= 60
    np.testing.assert_allclose(result["lr"], [finder.lr_at(i) for i in range(n)], rtol=1e-12)
    assert 1e-4 <= result["valley"] <= 3.0


def test_tf_keras_under_tf_use_legacy_keras_is_served(tmp_path):
    script = (
        "import numpy as np, tensorflow as tf\n"
        "from tb_lr_plugin.callbacks.tf_keras import LearningRateLogger, ReduceLROnPlateau\n"
        "m = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])\n"
        "m.compile(tf.keras.optimizers.SGD(0.1), 'mse')\n"
        "m.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=4, epochs=3, verbose=0,\n"
        "      callbacks=[ReduceLROnPlateau('loss', patience=0, min_delta=100),\n"
        f"                 LearningRateLogger({str(tmp_path)!r})])\n"
        "print(type(m).__module__)\n"
    )
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("tf_keras")
    run = read_run(tmp_path)
    assert len(run.optimizers["sgd"]) == 12
    assert [e["epoch"] for e in run.events if e["kind"] == "reduction"] == [1, 2]
