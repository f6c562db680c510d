"""`tb-lr-audit LOGDIR --format json` vs TensorBoard's own event loading.

Writes a logdir of `--runs` runs of `--steps` steps each, in the shape
`LearningRateLogger` and `ReduceLROnPlateau` write it (one flush per epoch:
an `lr/<optimizer>` and a `batch/loss` record of every step of the epoch,
the epoch's logs, its plateau state, and a reduction event now and then),
then times, in separate processes and interleaved repeats (median):

- `cli`: `tb-lr-audit LOGDIR --format json` (process wall time: start-up,
  loading every record, assembling, auditing, writing the JSON), with the
  package's bytecode compiled first, as a wheel's install compiles it;
- `tb python`: TensorBoard's Python loader as `tensorboard --load_fast=false`
  runs it: `plugin_event_multiplexer.EventMultiplexer` with its default size
  guidance, `AddRunsFromDirectory` + `Reload`. Reported as the load time
  alone (imports excluded: the strict baseline) and as process wall time;
- `tb rust`: TensorBoard's data server (`--load_fast=true`), one load cycle
  (`--reload once`), as the server itself times it. It checks both CRCs of
  every record as this CLI does (`tf_record.rs` checks each length CRC,
  `event_file.rs` calls `TfRecord::checksum` on each payload before
  decoding it; a record failing it is skipped), and is compiled.
- `breakdown`: where the CLI's time goes, measured in this process (CPU
  time, one pass, `--jobs 1`): imports (in a fresh process), framing and
  CRCs, reading the records (by layout, `event_scan`, or by protobuf) and
  gathering a run's, checking and
  assembling them, the audit, writing the JSON. With `--jobs N` the
  reading and the audit are shared among N forked workers.

Targets: `cli` <= 0.5x `tb python` load time and <= 5x `tb rust`.

It also checks that the output is the same as with every record parsed by
protobuf (the reader before `event_scan`, which the tests hold equal to
TensorBoard's own loader): the fast path must not change a byte.

Usage:
    python bench/bench_audit.py [--runs 200] [--steps 10000] [--repeats 3]
"""

import argparse
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tb_lr_plugin import metadata  # noqa: E402
from tb_lr_plugin.event_writer import EventWriter  # noqa: E402

STEPS_PER_EPOCH = 200
LR0 = 1e-3

_TB_PYTHON = r"""
import json, sys, time
t0 = time.perf_counter()
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
from tensorboard.compat import tf
tf.__version__  # TensorBoard resolves TensorFlow lazily: not part of loading
t1 = time.perf_counter()
m = pem.EventMultiplexer()
m.AddRunsFromDirectory(sys.argv[1])
m.Reload()
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "runs": len(m.Runs())}))
"""


def write_logdir(logdir, runs, steps, seed=0):
    """Writes `runs` runs of `steps` steps as the callbacks would."""
    rng = np.random.default_rng(seed)
    epochs = max(steps // STEPS_PER_EPOCH, 1)
    for r in range(runs):
        writer = EventWriter(os.path.join(logdir, f"run{r:03d}"))
        session = {"start_step": 0, "initial_epoch": 0, "epochs": epochs, "optimizers": []}
        writer.add_json(metadata.KIND_SESSION, metadata.TAG_SESSION, [session], 0)
        lr, best, wait, loss = LR0, None, 0, 2.0
        for epoch in range(epochs):
            first = epoch * STEPS_PER_EPOCH + 1
            step_ids = np.arange(first, first + STEPS_PER_EPOCH, dtype=np.float64)
            rows = np.stack([step_ids, np.full_like(step_ids, LR0), np.full_like(step_ids, lr)], 1)
            writer.add_array(metadata.KIND_LR, "lr/adam", rows, optimizer="adam")
            losses = loss * np.exp(-step_ids / (3 * steps)) + 0.05 * rng.random(len(step_ids))
            writer.add_array(
                metadata.KIND_BATCH, "batch/loss", np.stack([step_ids, losses], 1), metric="loss"
            )
            end = int(step_ids[-1])
            val = float(losses.mean() + 0.1 * rng.random())
            logs = {"loss": float(losses.mean()), "val_loss": val}
            item = {"epoch": epoch, "step": end, "logs": logs}
            writer.add_json(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], end)
            if best is None or val < best - 1e-4:
                best, wait = val, 0
            else:
                wait += 1
            if wait >= 3:
                new = lr * 0.5
                event = {
                    "kind": "reduction", "epoch": epoch, "step": end, "optimizer": "adam",
                    "monitor": "val_loss", "value": val, "best": best, "wait": wait,
                    "patience": 3, "old_lr": lr, "new_lr": new, "factor": 0.5,
                    "min_lr": 0.0, "cooldown": 0,
                }  # fmt: skip
                writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], end)
                lr, wait = new, 0
            plateau = {
                "epoch": epoch, "step": end, "monitor": "val_loss", "value": val, "best": best,
                "wait": wait, "patience": 3, "cooldown_counter": 0, "cooldown": 0, "lr": lr,
                "min_lr": 0.0, "mode": "min", "min_delta": 1e-4, "factor": 0.5,
            }  # fmt: skip
            writer.add_json(metadata.KIND_PLATEAU, metadata.TAG_PLATEAU, [plateau], end)
            writer.flush()
        writer.close()


def _cli():
    exe = os.path.join(os.path.dirname(sys.executable), "tb-lr-audit")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "tb_lr_plugin.cli"]


def time_cli(logdir):
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(_cli() + [logdir, "--format", "json"], stdout=sink, stderr=sink, check=True)
    return time.perf_counter() - t0


def time_tb_python(logdir):
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _TB_PYTHON, logdir],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["load"], wall


def time_tb_rust(logdir):
    """One load cycle of TensorBoard's data server, or None if it is absent."""
    try:
        from tensorboard_data_server import server_binary
    except ImportError:
        return None
    binary = server_binary()
    if not binary:
        return None
    proc = subprocess.Popen(
        [binary, "--logdir", logdir, "--reload", "once", "--port", "0", "-v"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stderr:
            # "... Finished load cycle (9.274729ms)"
            match = re.search(r"Finished load cycle \(([0-9.]+)(µs|us|ms|s)\)", line)
            if match:
                scale = {"µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}[match.group(2)]
                return float(match.group(1)) * scale
        return None
    finally:
        proc.kill()
        proc.wait()


_IMPORTS = r"""
import time
t = time.process_time()
from tb_lr_plugin import audit, cli, event_file, loader, lr_finder
from tensorboard.compat.proto import event_pb2
print(time.process_time() - t)
"""


def breakdown(logdir):
    """`{stage: CPU seconds}` of one serial pass of the CLI's work (see the module doc)."""
    from tb_lr_plugin import cli, event_file, loader, run_data, sanitize

    out = subprocess.run([sys.executable, "-c", _IMPORTS], capture_output=True, text=True)
    spent = {"imports": float(out.stdout.strip() or "nan")}
    cli._keep_freed_memory()  # as the command does: this pass measures its work
    timed = [(event_file, "frame", "frame+crc"), (sanitize, "clean_records", "decode+check")]
    timed.append((run_data, "assemble", "assemble"))
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in timed]

    def clocked(fn, key):
        def run(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.process_time() - t

        return run

    try:
        for mod, name, key in timed:
            setattr(mod, name, clocked(getattr(mod, name), key))
        t = time.process_time()
        found = loader.load(logdir, jobs=1)
        spent["scan+parse+gather"] = (
            time.process_time() - t - sum(spent.get(key, 0.0) for *_, key in timed)
        )
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
    t = time.process_time()
    results = [cli._audited(entry) for entry in found.runs.values()]
    spent["audit"] = time.process_time() - t
    t = time.process_time()
    cli._json(results)
    spent["json"] = time.process_time() - t
    return spent


def same_output(logdir):
    """`"yes"` when `--format json` is byte-identical with every record parsed
    by protobuf, else `"NO"`."""
    import io

    from tb_lr_plugin import cli, loader

    def output():
        out = io.StringIO()
        cli.run([logdir, "--format", "json", "--jobs", "2"], stdout=out, stderr=io.StringIO())
        return out.getvalue()

    fast = output()
    saved = loader._DirReader.take
    loader._DirReader.take = lambda self, *args: False
    try:
        parsed = output()
    finally:
        loader._DirReader.take = saved
    return "yes" if fast == parsed and '"runs": [' in fast else "NO"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--logdir", help="reuse or keep the generated logdir here")
    args = parser.parse_args()

    tmp = None
    logdir = args.logdir
    marker = f"{args.runs}x{args.steps}"
    if logdir is None:
        tmp = tempfile.mkdtemp(prefix="bench_audit_")
        logdir = tmp
    stamp = os.path.join(logdir, ".bench_audit")
    try:
        if not (os.path.exists(stamp) and open(stamp).read() == marker):
            shutil.rmtree(logdir, ignore_errors=True)
            t0 = time.perf_counter()
            write_logdir(logdir, args.runs, args.steps)
            with open(stamp, "w") as f:
                f.write(marker)
            print(f"wrote {marker} in {time.perf_counter() - t0:.1f} s", flush=True)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)
        print(f"logdir: {args.runs} runs x {args.steps} steps, {size / 1e6:.1f} MB", flush=True)

        # The command as installed: a wheel's install compiles its bytecode,
        # and without it (an editable install under PYTHONDONTWRITEBYTECODE)
        # each run would also compile the package from source.
        compileall.compile_dir(os.path.join(ROOT, "tb_lr_plugin"), quiet=1)
        cli, tb_load, tb_wall, rust = [], [], [], []
        for i in range(args.repeats):
            cli.append(time_cli(logdir))
            load, wall = time_tb_python(logdir)
            tb_load.append(load)
            tb_wall.append(wall)
            r = time_tb_rust(logdir)
            if r is not None:
                rust.append(r)
            print(
                f"  repeat {i + 1}: cli {cli[-1]:.2f} s, tb python load {load:.2f} s "
                f"(process {wall:.2f} s)" + (f", tb rust {r:.2f} s" if r is not None else ""),
                flush=True,
            )
        c, load, wall = (statistics.median(x) for x in (cli, tb_load, tb_wall))
        print(f"median cli (tb-lr-audit --format json, whole process): {c:.2f} s")
        print(f"median TensorBoard Python loader, load only: {load:.2f} s")
        print(f"median TensorBoard Python loader, whole process: {wall:.2f} s")
        if rust:
            r = statistics.median(rust)
            print(f"median TensorBoard data server (Rust), one load cycle: {r:.3f} s")
        print(f"ratio cli / tb python load = {c / load:.2f} (target <= 0.5)")
        paired = statistics.median(a / b for a, b in zip(cli, tb_load, strict=True))
        print(f"median of the per-repeat ratios cli / tb python load = {paired:.2f}")
        print(f"ratio cli / tb python process = {c / wall:.2f}")
        if rust:
            print(f"ratio cli / tb rust = {c / r:.1f} (target <= 5)")
        print(f"output identical with every record parsed by protobuf: {same_output(logdir)}")
        spent = breakdown(logdir)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
        print(f"cli breakdown (CPU s, --jobs 1): {stages}; total {sum(spent.values()):.2f}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
