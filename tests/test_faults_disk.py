"""Fault 3: a disk that fills, a log directory that is read-only or deleted.

Every fault is real: the log directory is on a 256 KB tmpfs filled by a
file (freed, or not, mid-run), made read-only by a read-only bind mount
(or chmod when not root), or deleted by a callback while training. Each
time the training must complete, the logger must warn exactly once, and
what could be written must be complete and readable by every reader: no
torn record in the middle of a file, no empty files left behind.
"""

import os
import shutil
import warnings

import faults
import keras
import numpy as np
import pytest
from keras_backend import on_every_backend
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
from training import data, model, read_run

pytestmark = on_every_backend
SPE = 16  # steps per epoch: 64 samples, batch 4
EPOCHS = 20


class At(keras.callbacks.Callback):
    """Runs `actions[epoch]()` at the end of those epochs (listed after the
    logger, so after its flush)."""

    def __init__(self, actions):
        super().__init__()
        self.actions = actions

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.actions:
            self.actions[epoch]()


def train(run_dir, actions=None):
    """A real training with both callbacks: `(history, our warnings)`."""
    x, y = data(noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    callbacks = [
        ReduceLROnPlateau("loss", factor=0.5, patience=1, min_delta=0.05),
        LearningRateLogger(run_dir),
        At(actions or {}),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = m.fit(x, y, batch_size=4, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    ours = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(history.history["loss"]) == EPOCHS
    return ours


def assert_intact_and_served(logdir, name, tensorboard_app):
    """Every file of the run is whole (no torn record anywhere), and the
    CLI and the plugin read exactly what the files hold."""
    from tb_lr_plugin import loader

    run_dir = os.path.join(logdir, name)
    payloads = []
    for path in faults.event_files(run_dir):
        records, end, size = faults.framed_records(path)
        assert end == size and len(records) > 1, (path, end, size)
        payloads.append(records)
    run = read_run(run_dir)
    faults.assert_same_run(run, faults.run_from_payloads(payloads))
    found = loader.load(str(logdir))
    assert found.damaged == []
    faults.assert_same_run(found.runs[name].data, run)
    code, _, err = faults.run_cli(logdir, "--run", name, "--format", "json")
    assert code == 0 and err == ""
    tb = tensorboard_app(logdir)
    tb.reload()
    faults.assert_plugin_serves(tb, name, run)
    return run


def assert_steps(run, first, last):
    """The LR and loss rows cover `first..last` exactly, once each."""
    for rows in (run.optimizers["sgd"], run.batch["loss"]):
        faults.assert_contiguous(rows, first)
        assert rows[-1, 0] == last


@pytest.mark.parametrize("leave", [0, 8192], ids=["full-from-the-start", "fills-mid-run"])
def test_a_full_disk_that_frees_up_loses_nothing(tmp_path, tensorboard_app, leave):
    with faults.tmpfs(tmp_path / "disk"):
        filler = faults.fill(tmp_path / "disk", leave=leave)
        # Freed at the end of epoch 15: everything held back is written then.
        ours = train(tmp_path / "disk" / "run", {14: lambda: os.remove(filler)})
        assert len(ours) == 1 and "No space left on device" in str(ours[0].message)
        # No file left behind by the failed attempts to start one.
        assert len(faults.event_files(tmp_path / "disk" / "run")) == 1
        run = assert_intact_and_served(tmp_path / "disk", "run", tensorboard_app)
    assert_steps(run, 1, EPOCHS * SPE)
    assert [e["epoch"] for e in run.epochs] == list(range(EPOCHS))
    assert [p["epoch"] for p in run.plateau] == list(range(EPOCHS))


def test_a_disk_full_to_the_end_keeps_a_readable_prefix(tmp_path, tensorboard_app):
    with faults.tmpfs(tmp_path / "disk"):
        faults.fill(tmp_path / "disk", leave=8192)
        ours = train(tmp_path / "disk" / "run")
        assert len(ours) == 1 and "No space left on device" in str(ours[0].message)
        assert len(faults.event_files(tmp_path / "disk" / "run")) == 1
        run = assert_intact_and_served(tmp_path / "disk", "run", tensorboard_app)
    last = run.optimizers["sgd"][-1, 0]
    assert SPE <= last < EPOCHS * SPE  # some of it fitted, not all
    assert_steps(run, 1, last)


def test_a_read_only_log_dir_that_becomes_writable_loses_nothing(tmp_path, tensorboard_app):
    run_dir = tmp_path / "logs" / "run"
    run_dir.mkdir(parents=True)
    read_only = faults.ReadOnly(run_dir)
    read_only.on()
    try:
        ours = train(run_dir, {9: read_only.off})
    finally:
        read_only.off()
    assert len(ours) == 1 and "could not write learning-rate logs" in str(ours[0].message)
    run = assert_intact_and_served(tmp_path / "logs", "run", tensorboard_app)
    assert_steps(run, 1, EPOCHS * SPE)


def test_a_log_dir_read_only_to_the_end_costs_one_warning(tmp_path):
    run_dir = tmp_path / "logs" / "run"
    run_dir.mkdir(parents=True)
    read_only = faults.ReadOnly(run_dir)
    read_only.on()
    try:
        ours = train(run_dir)
    finally:
        read_only.off()
    assert len(ours) == 1 and "could not write learning-rate logs" in str(ours[0].message)
    assert os.listdir(run_dir) == []


def test_a_log_dir_made_read_only_mid_run_resumes_when_writable(tmp_path, tensorboard_app):
    # Linux refuses to make a file system read-only under an open writer, so
    # read-only bites when a new file is needed: here the event file is
    # deleted and the directory made read-only after epoch 6, writable again
    # after epoch 13.
    run_dir = tmp_path / "logs" / "run"
    run_dir.mkdir(parents=True)
    read_only = faults.ReadOnly(run_dir)

    def delete_and_lock():
        for path in faults.event_files(run_dir):
            os.remove(path)
        read_only.on()

    try:
        ours = train(run_dir, {5: delete_and_lock, 12: read_only.off})
    finally:
        read_only.off()
    assert len(ours) == 1 and "was deleted during training" in str(ours[0].message)
    run = assert_intact_and_served(tmp_path / "logs", "run", tensorboard_app)
    # What was flushed before the deletion went with the file; the rest,
    # held back while read-only, is all there.
    assert_steps(run, 6 * SPE + 1, EPOCHS * SPE)
    assert [e["epoch"] for e in run.epochs] == list(range(6, EPOCHS))


def test_a_log_dir_deleted_during_training_is_recreated_with_one_warning(tmp_path, tensorboard_app):
    run_dir = tmp_path / "logs" / "run"
    ours = train(run_dir, {2: lambda: shutil.rmtree(tmp_path / "logs")})
    assert len(ours) == 1 and "was deleted during training" in str(ours[0].message)
    run = assert_intact_and_served(tmp_path / "logs", "run", tensorboard_app)
    assert_steps(run, 3 * SPE + 1, EPOCHS * SPE)
    assert [e["epoch"] for e in run.epochs] == list(range(3, EPOCHS))
    # The session record went with the deleted file; the plateau state and
    # events of the later epochs are there.
    assert [p["epoch"] for p in run.plateau] == list(range(3, EPOCHS))


def test_the_tail_a_failed_write_leaves_is_cut_back(tmp_path):
    """The bug the disk-full test found: a write that fails half-way left a
    partial record, and every record retried after it was unreadable."""
    from tb_lr_plugin import metadata
    from tb_lr_plugin.event_writer import EventWriter

    with faults.tmpfs(tmp_path / "disk"):
        filler = faults.fill(tmp_path / "disk", leave=16384)
        writer = EventWriter(tmp_path / "disk" / "run")
        rows = np.array([[s, 0.1, 0.1] for s in range(1, 2001)])
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            for chunk in np.array_split(rows, 10):  # 4.8 KB each: the 4th fails half-way
                writer.add_array(metadata.KIND_LR, "lr/sgd", chunk, optimizer="sgd")
                writer.flush()
        os.remove(filler)
        assert writer.flush()
        writer.close()
        (path,) = faults.event_files(tmp_path / "disk" / "run")
        _, end, size = faults.framed_records(path)
        assert end == size
        np.testing.assert_array_equal(read_run(tmp_path / "disk" / "run").optimizers["sgd"], rows)
