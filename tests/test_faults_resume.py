"""Fault 2: training resumed from a checkpoint, in a new process.

First trainings run here, saving a `.keras` checkpoint every epoch
(`keras.callbacks.ModelCheckpoint`, optimizer included). One new process
(`python test_faults_resume.py ...`) then resumes each from a checkpoint
with `keras.models.load_model` and `fit(initial_epoch=...)`, the way a
user restarts a crashed job:

- `schedule`: a warmup + cosine schedule, resumed from the epoch-3
  checkpoint of a run that had reached epoch 6 (the re-run steps must
  replace the old ones, not duplicate them);
- `plateau`: a constant LR cut by `ReduceLROnPlateau`, resumed the same
  way (events of the abandoned epochs must go, the restored LR must go on);
- `continue`: the final model, continued with no overlap;
- `reset`: the epoch-3 checkpoint recompiled with a fresh optimizer, so
  the warmup runs again (the audit must say `schedule_restart`);
- `backup`, `backup-plateau` (schedule; constant LR with plateau cuts):
  `keras.callbacks.BackupAndRestore`, the training killed with SIGKILL in
  its fifth epoch (a forked process) and started again; the logger is
  listed *before* `BackupAndRestore`, so the optimizer is restored after
  the logger's `on_train_begin`.

Then the step axis must continue (steps 1..N, once each), planned and
actual stay aligned with the schedule, every epoch and event appears
once, and the CLI, the plugin and the event files agree.
"""

import json
import os
import shutil
import signal
import sys

import numpy as np
import pytest

SPE = 8  # steps per epoch: 64 samples, batch 8
BACKUPS = ("backup", "backup-plateau")
WARMUP = dict(initial_learning_rate=0.0, decay_steps=400, warmup_target=0.05, warmup_steps=40)


def _schedule():
    import keras

    return keras.optimizers.schedules.CosineDecay(**WARMUP)


def _plateau():
    from tb_lr_plugin.callbacks import ReduceLROnPlateau

    # min_delta so large that only the first epoch improves: a reduction
    # every other epoch (patience 1, cooldown 1).
    return ReduceLROnPlateau("loss", factor=0.5, patience=1, cooldown=1, min_delta=100.0)


def _first_trainings(logdir, ckpt):
    """The trainings that are later resumed (in the test process)."""
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger
    from training import data, model

    x, y = data()
    m = model(keras.optimizers.SGD(_schedule()))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=6,
        verbose=0,
        callbacks=[
            LearningRateLogger(logdir / "schedule"),
            keras.callbacks.ModelCheckpoint(str(ckpt / "schedule-{epoch:02d}.keras")),
        ],
    )
    m.save(ckpt / "schedule-final.keras")
    for copy in ("continue", "reset"):
        shutil.copytree(logdir / "schedule", logdir / copy)

    m = model(keras.optimizers.SGD(0.1))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=6,
        verbose=0,
        callbacks=[
            _plateau(),
            LearningRateLogger(logdir / "plateau"),
            keras.callbacks.ModelCheckpoint(str(ckpt / "plateau-{epoch:02d}.keras")),
        ],
    )


# -- the new process: python test_faults_resume.py LOGDIR CKPT ----------------


def _backup_fit(logdir, ckpt, kill, name):
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger
    from training import data, model

    class KillInEpoch5(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 4 * SPE + 3:
                os.kill(os.getpid(), signal.SIGKILL)

    x, y = data()
    callbacks = [
        LearningRateLogger(logdir / name),
        keras.callbacks.BackupAndRestore(str(ckpt / name)),
    ]
    if name == "backup":
        m = model(keras.optimizers.SGD(_schedule()))
    else:
        m = model(keras.optimizers.SGD(0.1))
        callbacks.insert(0, _plateau())
    m.fit(x, y, batch_size=8, epochs=9, verbose=0, callbacks=callbacks + [KillInEpoch5()] * kill)


def _resume(logdir, ckpt):
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger
    from training import data

    # The killed first runs of `backup*`, forked before this process uses TF.
    for name in BACKUPS:
        pid = os.fork()
        if pid == 0:
            try:
                _backup_fit(logdir, ckpt, kill=True, name=name)
            finally:
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status

    x, y = data()
    fit = dict(batch_size=8, epochs=9, verbose=0)

    m = keras.models.load_model(ckpt / "schedule-03.keras")
    m.fit(x, y, initial_epoch=3, callbacks=[LearningRateLogger(logdir / "schedule")], **fit)

    m = keras.models.load_model(ckpt / "plateau-03.keras")
    m.fit(
        x, y, initial_epoch=3, callbacks=[_plateau(), LearningRateLogger(logdir / "plateau")], **fit
    )

    m = keras.models.load_model(ckpt / "schedule-final.keras")
    m.fit(x, y, initial_epoch=6, callbacks=[LearningRateLogger(logdir / "continue")], **fit)

    m = keras.models.load_model(ckpt / "schedule-03.keras")
    m.compile(optimizer=keras.optimizers.SGD(_schedule()), loss="mse")  # the warmup again
    m.fit(x, y, initial_epoch=3, callbacks=[LearningRateLogger(logdir / "reset")], **fit)

    for name in BACKUPS:
        _backup_fit(logdir, ckpt, kill=False, name=name)
    print(json.dumps({"ok": True}))


# -- the tests ----------------------------------------------------------------


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """`{run: RunData}` after the first trainings and their resumes."""
    import faults
    from training import read_run

    logdir = tmp_path_factory.mktemp("resumed")
    ckpt = tmp_path_factory.mktemp("checkpoints")
    _first_trainings(logdir, ckpt)
    before = {name: read_run(logdir / name) for name in ("schedule", "plateau", "continue")}
    result = faults.python([os.path.abspath(__file__), str(logdir), str(ckpt)], timeout=170)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"ok": True}
    runs = {d.name: read_run(d) for d in logdir.iterdir()}
    return logdir, before, runs


def _cosine(steps):
    """The schedule at `steps`, as Keras computes it (float32)."""
    return np.array([float(_schedule()(int(s) - 1)) for s in steps])


def _findings(run):
    from tb_lr_plugin import audit

    return audit.find(run, None)


def _resume_findings(run):
    """Findings a resume could cause (the plateau runs' reductions never
    help, by design: `reduction_ineffective` is expected there)."""
    return [f for f in _findings(run) if f["kind"] in ("schedule_restart", "plan_deviation")]


@pytest.mark.parametrize("name", ["schedule", "continue", "backup"])
def test_the_step_axis_continues_and_planned_follows_actual(resumed, name):
    import faults

    _, _, runs = resumed
    run = runs[name]
    rows = run.optimizers["sgd"]
    faults.assert_contiguous(rows)
    assert rows[-1, 0] == 9 * SPE
    np.testing.assert_array_equal(rows[:, 1], rows[:, 2])
    np.testing.assert_allclose(rows[:, 2], _cosine(rows[:, 0]), rtol=1e-6, atol=1e-9)
    faults.assert_contiguous(run.batch["loss"])
    assert [(e["epoch"], e["step"]) for e in run.epochs] == [(e, SPE * (e + 1)) for e in range(9)]
    assert _findings(run) == []


def test_resumed_sessions_start_where_the_checkpoint_was(resumed):
    _, _, runs = resumed
    starts = {
        name: [(s["start_step"], s["initial_epoch"]) for s in runs[name].sessions]
        for name in ("schedule", "plateau", "continue", "backup", "backup-plateau", "reset")
    }
    assert starts == {
        "schedule": [(0, 0), (3 * SPE, 3)],
        "plateau": [(0, 0), (3 * SPE, 3)],
        "continue": [(0, 0), (6 * SPE, 6)],
        # BackupAndRestore saved after epoch 4 (index 3); the kill came in epoch 5.
        "backup": [(0, 0), (4 * SPE, 4)],
        "backup-plateau": [(0, 0), (4 * SPE, 4)],
        "reset": [(0, 0), (0, 3)],
    }


def test_rerun_steps_replace_the_old_ones(resumed):
    _, before, runs = resumed
    old, new = before["schedule"].optimizers["sgd"], runs["schedule"].optimizers["sgd"]
    assert old[-1, 0] == 6 * SPE  # the first run had gone past the checkpoint
    # Identical where both ran (same schedule, same restored step counter).
    np.testing.assert_array_equal(new[: len(old)], old)
    # The abandoned epochs' losses are gone, the re-run's are there once.
    losses = runs["schedule"].batch["loss"]
    assert len(np.unique(losses[:, 0])) == len(losses) == 9 * SPE


def test_no_event_is_duplicated_and_the_restored_lr_goes_on(resumed):
    _, before, runs = resumed
    run, old = runs["plateau"], before["plateau"]
    keys = [json.dumps(e, sort_keys=True) for e in run.events]
    assert len(keys) == len(set(keys))
    # Events of the abandoned epochs (after step 24) are superseded; the
    # earlier ones are kept once; the resumed fit adds its own.
    kept = [e for e in old.events if e["step"] <= 3 * SPE]
    assert run.events[: len(kept)] == kept
    assert all(e["step"] > 3 * SPE for e in run.events[len(kept) :])

    # Reductions after every epoch but the first of each fit (only the
    # first improves): the old ones past the checkpoint are gone.
    def reductions(events):
        return [e["step"] for e in events if e["kind"] == "reduction"]

    assert reductions(old.events) == [16, 24, 32, 40, 48]
    assert reductions(run.events) == [16, 24, 40, 48, 56, 64, 72]
    rows = run.optimizers["sgd"]
    lr = dict(zip(rows[:, 0].tolist(), rows[:, 2].tolist(), strict=True))
    # The LR the checkpoint held (halved twice) is used from step 25 on.
    assert lr[24] == pytest.approx(0.05) and lr[25] == pytest.approx(0.025)
    assert lr[41] == pytest.approx(0.0125) and lr[72] == pytest.approx(0.1 / 2**6)
    assert [p["epoch"] for p in run.plateau] == list(range(9))
    assert _resume_findings(run) == []


def test_a_restore_after_the_loggers_train_begin_changes_nothing(resumed):
    import faults

    _, _, runs = resumed
    run = runs["backup-plateau"]
    rows = run.optimizers["sgd"]
    faults.assert_contiguous(rows)
    assert rows[-1, 0] == 9 * SPE
    assert [(e["epoch"], e["step"]) for e in run.epochs] == [(e, SPE * (e + 1)) for e in range(9)]
    # The restored LR is not mistaken for an unexplained change.
    assert "lr_change" not in {e["kind"] for e in run.events}
    reductions = [e["step"] for e in run.events if e["kind"] == "reduction"]
    assert reductions == [16, 24, 32, 48, 56, 64, 72]
    lr = dict(zip(rows[:, 0].tolist(), rows[:, 2].tolist(), strict=True))
    assert lr[32] == pytest.approx(0.025) and lr[33] == pytest.approx(0.0125)
    assert _resume_findings(run) == []


def test_a_schedule_reset_by_a_fresh_optimizer_is_reported(resumed):
    _, _, runs = resumed
    (finding,) = [f for f in _findings(runs["reset"]) if f["kind"] == "schedule_restart"]
    assert finding["severity"] == "warning"
    assert (finding["epoch"], finding["step"]) == (3, 0)
    assert "warmup ran again" in finding["message"]


def test_cli_and_plugin_agree_with_the_event_files(resumed, tensorboard_app):
    import faults

    from tb_lr_plugin import loader

    logdir, _, runs = resumed
    found = loader.load(str(logdir))
    assert sorted(found.runs) == sorted(runs)
    code, out, err = faults.run_cli(logdir, "--format", "json")
    assert code == 0 and err == ""
    cli_findings = {r["run"]: r["findings"] for r in json.loads(out)["runs"]}
    tb = tensorboard_app(logdir)
    tb.reload()
    for name, run in runs.items():
        faults.assert_same_run(found.runs[name].data, run, name)
        faults.assert_plugin_serves(tb, name, run)
        served = json.loads(tb.get("audit", run=name).data)["findings"]
        assert served == cli_findings[name] == json.loads(json.dumps(_findings(run)))
    # The warmup ran again on a trained model: whether its LR rise also
    # spikes the loss depends on fit's shuffle order, so a spike may join.
    kinds = [f["kind"] for f in cli_findings["reset"]]
    assert kinds.count("schedule_restart") == 1
    assert set(kinds) <= {"schedule_restart", "loss_spike_after_lr_change"}


def test_a_fit_interrupted_and_called_again_records_everything_once(tmp_path):
    """A notebook's KeyboardInterrupt skips `on_train_end`; the user calls
    `fit` again with the same callbacks."""
    import faults
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger
    from training import data, model, read_run

    class Interrupt(keras.callbacks.Callback):
        armed = True

        def on_train_batch_end(self, batch, logs=None):
            if self.armed and int(self.model.optimizer.iterations.numpy()) == 3 * SPE + 3:
                self.armed = False
                raise KeyboardInterrupt

    x, y = data(noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    callbacks = [_plateau(), LearningRateLogger(tmp_path), Interrupt()]
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, batch_size=8, epochs=8, verbose=0, callbacks=callbacks)
    m.fit(x, y, batch_size=8, epochs=8, initial_epoch=3, verbose=0, callbacks=callbacks)
    run = read_run(tmp_path)
    last = 3 * SPE + 3 + 5 * SPE
    # The three updates of the interrupted epoch are there too.
    for rows in (run.optimizers["sgd"], run.batch["loss"]):
        faults.assert_contiguous(rows)
        assert rows[-1, 0] == last
    keys = [json.dumps(e, sort_keys=True) for e in run.events]
    assert len(keys) == len(set(keys)) and len(keys) >= 4, keys
    assert [(s["start_step"], s["initial_epoch"]) for s in run.sessions] == [(0, 0), (27, 3)]
    assert _resume_findings(run) == []


if __name__ == "__main__":
    import pathlib

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _resume(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
