"""Soak: a live training polled by four clients, against a real TensorBoard.

A real Keras training (LearningRateLogger, ReduceLROnPlateau and Keras's
own TensorBoard callback, paced to a steady number of steps per second)
writes into a fresh logdir for `--minutes` minutes, while a `tensorboard`
on 127.0.0.1 serves it and `--clients` threads each request every route
of the plugin once per `--interval` seconds (the data routes, both export
formats, `index.js`, a static file). The RSS of the TensorBoard process
(and, for information, of its data server) is sampled throughout.

Passes when no request failed (every answer 200, no 5xx, no connection
error), the training and TensorBoard both ran to the end, and the RSS of
the TensorBoard process stayed within `--tolerance` (10%) of its level
just after the warm-up. The clients then poll on for `--hold` seconds
with no new data: there the RSS must stay flat (within 2%), which tells a
leak apart from memory that follows the size of the growing run. Prints
the figures; the exit status is 0 on a pass, 1 otherwise. Not part of
`make test` (`make soak`).

    python bench/soak.py [--minutes 10] [--clients 4] [--interval 1]
                         [--steps-per-second 50] [--load_fast auto|true|false]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from conftest import TensorBoardProcess  # noqa: E402

RUN = "soak"
PREFIX = "/data/plugin/learning_rate/"


def routes():
    """`(name, path)` of every route a client polls."""
    q = "run=" + urllib.parse.quote(RUN, safe="")
    return [
        ("runs", PREFIX + "runs"),
        ("lr", PREFIX + "lr?" + q),
        ("events", PREFIX + "events?" + q),
        ("loss", PREFIX + "loss?" + q),
        ("audit", PREFIX + "audit?" + q),
        ("finder", PREFIX + "finder?" + q),
        ("export_json", PREFIX + "export?" + q),
        ("export_csv", PREFIX + "export?" + q + "&format=csv"),
        ("index.js", PREFIX + "index.js"),
        ("static", PREFIX + "static/index.js"),
    ]


# -- the training (a child process) --------------------------------------------------------


def train(logdir, seconds, steps_per_second):
    """Trains until `seconds` have passed, at about `steps_per_second`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

    class Pace(keras.callbacks.Callback):
        """Holds the step rate (a heavier model, in effect) and stops on time."""

        def __init__(self):
            super().__init__()
            self.start = time.monotonic()
            self.steps = 0
            self.epochs = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            delay = self.start + self.steps / steps_per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1
            if time.monotonic() - self.start >= seconds:
                self.model.stop_training = True

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.5 * rng.normal(size=(4000, 1))).astype("float32")
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    run_dir = os.path.join(logdir, RUN)
    pace = Pace()
    model.fit(
        x,
        y,
        batch_size=32,
        epochs=10**6,
        validation_split=0.2,
        verbose=0,
        callbacks=[
            ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=1e-5),
            LearningRateLogger(run_dir),
            keras.callbacks.TensorBoard(run_dir),
            pace,
        ],
    )
    print(json.dumps({"steps": pace.steps, "epochs": pace.epochs}), flush=True)


# -- measuring -----------------------------------------------------------------------------


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


class Client(threading.Thread):
    """Requests every route once per interval until stopped."""

    def __init__(self, base, interval, stop):
        super().__init__(daemon=True)
        self.base, self.interval, self.stop = base, interval, stop
        self.results = []  # (name, status or error text, seconds, bytes)

    def run(self):
        paths = routes()
        next_round = time.monotonic()
        while not self.stop.is_set():
            for name, path in paths:
                start = time.monotonic()
                try:
                    with urllib.request.urlopen(self.base + path, timeout=60) as r:
                        size = len(r.read())
                        status = r.status
                except urllib.error.HTTPError as e:
                    size, status = len(e.read()), e.code
                except OSError as e:
                    size, status = 0, f"{type(e).__name__}: {e}"
                self.results.append((name, status, time.monotonic() - start, size))
            next_round += self.interval
            self.stop.wait(max(0.0, next_round - time.monotonic()))


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--steps-per-second", type=float, default=50.0)
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default: 20%%)")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds polled after training")
    parser.add_argument("--load_fast", default="auto")
    parser.add_argument("--logdir", help="write here instead of a temporary directory")
    parser.add_argument("--train-child", metavar="LOGDIR", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        train(args.train_child, args.seconds, args.steps_per_second)
        return 0

    seconds = 60.0 * args.minutes
    warmup = args.warmup if args.warmup is not None else min(120.0, 0.2 * seconds)
    logdir = args.logdir or tempfile.mkdtemp(prefix="tb-lr-soak-")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    print(
        f"soak: {args.minutes:g} min of training at {args.steps_per_second:g} steps/s, "
        f"{args.clients} clients polling {len(routes())} routes every {args.interval:g} s, "
        f"logdir {logdir}",
        flush=True,
    )
    trainer = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--train-child",
            logdir,
            "--seconds",
            str(seconds),
            "--steps-per-second",
            str(args.steps_per_second),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    tb = TensorBoardProcess(logdir, f"--load_fast={args.load_fast}")
    failures = []
    stop = threading.Event()
    clients = []
    samples = []  # (seconds since the clients started, tensorboard MB, data server MB)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status, _, body = tb.get("runs")
            if status == 200 and any(r["run"] == RUN for r in json.loads(body)["runs"]):
                break
            if trainer.poll() is not None:
                break
            time.sleep(0.5)
        else:
            failures.append("the run never appeared")
        start = time.monotonic()
        clients = [Client(tb.url, args.interval, stop) for _ in range(args.clients)]
        for c in clients:
            c.start()
        last_print = start
        trained_at = None
        while tb.proc.poll() is None:
            now = time.monotonic()
            if trained_at is None and trainer.poll() is not None:
                trained_at = now - start
            if trained_at is not None and now - start >= trained_at + args.hold:
                break
            kids = children(tb.proc.pid)
            tb_mb = rss_mb(tb.proc.pid)
            server_mb = sum(filter(None, (rss_mb(k) for k in kids)))
            if tb_mb is not None:
                samples.append((now - start, tb_mb, server_mb))
            if now - last_print >= 30:
                last_print = now
                done = sum(len(c.results) for c in clients)
                bad = sum(1 for c in clients for r in c.results if r[1] != 200)
                print(
                    f"  {now - start:5.0f} s: {done} requests, {bad} failed; RSS "
                    f"tensorboard {tb_mb:.0f} MB, data server {server_mb:.0f} MB",
                    flush=True,
                )
            if trained_at is None and now - start > seconds + 300:
                failures.append("the training did not stop on time")
                break
            time.sleep(2.0)
        polled = time.monotonic() - start
        elapsed = trained_at if trained_at is not None else polled
    finally:
        stop.set()
        for c in clients:
            c.join(90)
        if trainer.poll() is None:
            trainer.terminate()
        try:
            out, err = trainer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            trainer.kill()
            out, err = trainer.communicate()
        tb_alive = tb.proc.poll() is None
        tb.stop()

    # -- figures -----------------------------------------------------------------------
    if trainer.returncode != 0:
        failures.append(f"the training exited with {trainer.returncode}: {err[-2000:]}")
    if not tb_alive:
        failures.append("tensorboard died:\n" + "".join(tb.log[-30:]))
    trained = next((json.loads(line) for line in out.splitlines() if line.startswith("{")), {})
    results = [r for c in clients for r in c.results]
    by_status = {}
    for _, status, _, _ in results:
        by_status[status] = by_status.get(status, 0) + 1
    server_errors = sum(n for s, n in by_status.items() if isinstance(s, int) and s >= 500)
    not_ok = sum(n for s, n in by_status.items() if s != 200)
    if not results:
        failures.append("no request was made")
    if server_errors:
        failures.append(f"{server_errors} answers were 5xx")
    if not_ok:
        failures.append(f"{not_ok} requests did not answer 200: {by_status}")

    print(
        f"\ntraining: {trained.get('steps', '?')} steps, {trained.get('epochs', '?')} epochs "
        f"in {elapsed:.0f} s of polling, then {args.hold:.0f} s of polling with no new data"
    )
    print(f"requests: {len(results)} ({len(results) / max(polled, 1e-9):.1f}/s), by status:")
    print("  " + ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items(), key=str)))
    print(f"  {'route':<12} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'last KB':>8}")
    for name, _ in routes():
        mine = [r for r in results if r[0] == name]
        times = [1000 * r[2] for r in mine]
        size = mine[-1][3] / 1e3 if mine else 0
        print(
            f"  {name:<12} {len(mine):>6} {percentile(times, 0.5):>8.1f} "
            f"{percentile(times, 0.95):>8.1f} {max(times, default=float('nan')):>8.1f} "
            f"{size:>8.1f}"
        )

    after = [s for s in samples if warmup <= s[0] <= elapsed]
    held = [s for s in samples if s[0] > elapsed + 5]
    if len(after) < 3:
        failures.append("too few memory samples after the warm-up")
    else:
        window = [s for s in after if s[0] < warmup + max(30.0, 0.1 * seconds)] or after[:3]
        base_tb = statistics.median(s[1] for s in window)
        base_server = statistics.median(s[2] for s in window)
        peak_tb = max(s[1] for s in after)
        end_tb, end_server = after[-1][1], after[-1][2]
        growth = peak_tb / base_tb - 1
        print(
            f"RSS after a {warmup:.0f} s warm-up: tensorboard {base_tb:.0f} MB -> peak "
            f"{peak_tb:.0f} MB, end {end_tb:.0f} MB ({100 * growth:+.1f}% at the peak; "
            f"limit {100 * args.tolerance:.0f}%); data server {base_server:.0f} -> "
            f"{end_server:.0f} MB (the data it holds grows with the run)"
        )
        steps = trained.get("steps")
        if isinstance(steps, int) and steps:
            per_k = (end_tb - base_tb) / (steps * (1 - warmup / max(elapsed, 1e-9)) / 1000)
            print(f"  about {per_k:.2f} MB per 1,000 steps written after the warm-up")
        first = samples[0]
        print(f"RSS at the start of polling: tensorboard {first[1]:.0f} MB")
        if growth > args.tolerance:
            failures.append(f"tensorboard's RSS grew {100 * growth:.1f}% after the warm-up")
    if args.hold > 0:
        if len(held) < 3:
            failures.append("too few memory samples in the hold phase")
        else:
            drift = max(s[1] for s in held) / held[0][1] - 1
            print(
                f"hold ({args.hold:.0f} s polling, no new data): tensorboard {held[0][1]:.0f} -> "
                f"{held[-1][1]:.0f} MB (peak {100 * drift:+.1f}%; limit +2%)"
            )
            if drift > 0.02:
                failures.append(f"tensorboard's RSS grew {100 * drift:.1f}% with no new data")
    if failures:
        print("SOAK FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("SOAK PASSED")
    if not args.logdir:
        import shutil

        shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
