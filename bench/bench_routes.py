"""The `lr` route against TensorBoard's own scalars route, on one server.

Writes a run of 1,000,000 steps the way `LearningRateLogger` does (records
of 5,000 rows: planned and actual LR, batch loss, an `epochs` record per
epoch, plateau events), plus the same LR as a standard scalar tag (one
event per step, TF-free), starts a real `tensorboard` on 127.0.0.1, and
compares median latencies, interleaved:

- ours:  /data/plugin/learning_rate/lr?run=big
- yours: /data/plugin/scalars/scalars?run=big&tag=lr_scalar

Targets (issue 4): ratio <= 1, ours < 150 ms, response < 200 KB.

    python bench/bench_routes.py [--steps N] [--repeats N] [--load_fast auto|true|false]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from conftest import TensorBoardProcess  # noqa: E402

from tb_lr_plugin import metadata, record  # noqa: E402
from tb_lr_plugin.event_writer import EventWriter  # noqa: E402

CHUNK = 5000
SCALAR_TAG = "lr_scalar"


def schedule(steps, total):
    """Warmup + cosine decay (float32), halved at three plateau reductions."""
    warm = total // 20
    base = np.where(
        steps <= warm,
        1e-3 * steps / warm,
        1e-3 * 0.5 * (1 + np.cos(np.pi * (steps - warm) / (total - warm))),
    ).astype(np.float32)
    factor = np.ones(len(steps), dtype=np.float32)
    reductions = [int(total * f) for f in (0.4, 0.6, 0.8)]
    for r in reductions:
        factor[steps > r] *= np.float32(0.5)
    return base.astype(np.float64), (base * factor).astype(np.float64), reductions


def write_run(run_dir, total, epochs):
    writer = EventWriter(run_dir)
    steps = np.arange(1, total + 1, dtype=np.float64)
    planned, actual, reductions = schedule(steps, total)
    rng = np.random.default_rng(0)
    loss = 2.0 / np.sqrt(steps) + 0.05 * rng.standard_normal(total) ** 2
    per_epoch = total // epochs
    for start in range(0, total, CHUNK):
        part = slice(start, start + CHUNK)
        rows = np.stack([steps[part], planned[part], actual[part]], axis=1)
        writer.add_array(metadata.KIND_LR, "lr/adam", rows, optimizer="adam")
        writer.add_array(
            metadata.KIND_BATCH,
            "batch/loss",
            np.stack([steps[part], loss[part]], axis=1),
            metric="loss",
        )
        end = start + CHUNK
        if end % per_epoch == 0:
            epoch = end // per_epoch - 1
            item = {"epoch": epoch, "step": end, "logs": {"loss": float(loss[end - 1])}}
            writer.add_json(metadata.KIND_EPOCHS, "epochs", [item], end)
        hits = [r for r in reductions if start < r <= end]
        if hits:
            events = [
                {
                    "kind": "reduction",
                    "epoch": r // per_epoch - 1,
                    "step": r,
                    "monitor": "val_loss",
                    "old_lr": float(actual[r - 1]),
                    "new_lr": float(actual[r]),
                }
                for r in hits
            ]
            writer.add_json(metadata.KIND_EVENTS, "events", events, hits[0])
        writer.flush()
    writer.close()
    return actual


def write_scalars(run_dir, values, wall_time):
    """One `simple_value` event per step, framed in bulk (no TensorFlow)."""
    payloads = [
        event_pb2.Event(
            wall_time=wall_time + i * 1e-3,
            step=i + 1,
            summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=SCALAR_TAG, simple_value=v)]
            ),
        ).SerializeToString()
        for i, v in enumerate(values.tolist())
    ]
    header = event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2")
    parts = [record.frame(header.SerializeToString()), record.frame_many(payloads)]
    os.makedirs(run_dir, exist_ok=True)
    name = f"events.out.tfevents.{int(wall_time)}.bench.{os.getpid()}.scalars.v2"
    with open(os.path.join(run_dir, name), "wb") as f:
        f.write(b"".join(parts))


def timed_get(url, gzip=False):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read()
        status = r.status
    elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"{url}: HTTP {status}")
    return elapsed, data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--load_fast", default="auto", choices=("auto", "true", "false"))
    parser.add_argument("--logdir", help="reuse or keep the logdir (default: a temp dir)")
    args = parser.parse_args(argv)

    logdir = args.logdir or tempfile.mkdtemp(prefix="bench_routes_")
    run_dir = os.path.join(logdir, "big")
    if not os.path.isdir(run_dir):
        t = time.perf_counter()
        actual = write_run(run_dir, args.steps, args.epochs)
        t_lr = time.perf_counter() - t
        write_scalars(run_dir, actual.astype(np.float32), time.time())
        print(
            f"wrote {args.steps:,} steps in {time.perf_counter() - t:.1f} s "
            f"(our records {t_lr:.1f} s) to {logdir}"
        )

    results = {}
    for label, reload_interval in (("default", "5"), ("no-reuse", "0")):
        results[label] = measure(logdir, args, reload_interval)
        r = results[label]
        print(
            f"\n[--load_fast={args.load_fast} --reload_interval={reload_interval}] "
            f"tensorboard up and loaded in {r['startup']:.1f} s; "
            f"{args.repeats} interleaved requests each"
        )
        print(
            f"  ours   lr route:      median {r['ours']:7.2f} ms, {r['size'] / 1e3:6.1f} KB "
            f"({r['gzip'] / 1e3:.1f} KB gzipped), {r['kept']} of {r['points']:,} points"
        )
        print(
            f"  theirs scalars route: median {r['theirs']:7.2f} ms, "
            f"{r['their_size'] / 1e3:6.1f} KB, {r['their_points']} points"
        )
        print(f"  ratio ours/theirs: {r['ours'] / r['theirs']:.2f}")
        print(
            f"  first (uncached) lr request: {r['cold'] * 1e3:.0f} ms; export csv: "
            f"{r['export'] * 1e3:.0f} ms, {r['export_size'] / 1e6:.1f} MB, "
            f"{r['export_rows']:,} rows"
        )
    r = results["default"]
    ratio = r["ours"] / r["theirs"]
    ok = ratio <= 1 and r["ours"] < 150 and r["size"] < 200_000
    print(
        f"\ntargets at default settings (ratio <= 1, < 150 ms, < 200 KB): "
        f"ratio {ratio:.2f}, {r['ours']:.1f} ms, {r['size'] / 1e3:.0f} KB -> "
        + ("met" if ok else "NOT met")
    )
    return 0 if ok else 1


def measure(logdir, args, reload_interval):
    """Starts TensorBoard, waits for the run, and times both routes."""
    t = time.perf_counter()
    tb = TensorBoardProcess(
        logdir, f"--load_fast={args.load_fast}", "--reload_interval", reload_interval
    )
    try:
        ours = tb.url + "/data/plugin/learning_rate/lr?run=big"
        theirs = tb.url + f"/data/plugin/scalars/scalars?run=big&tag={SCALAR_TAG}"
        deadline = time.time() + 600
        while True:  # until TensorBoard has read the whole run
            try:
                _, scal = timed_get(theirs)
                if json.loads(scal)[-1][1] == args.steps:
                    cold, data = timed_get(ours)
                    if json.loads(data)["points"] == args.steps:
                        break
            except Exception:  # noqa: BLE001 - not loaded yet
                pass
            if time.time() > deadline:
                raise RuntimeError("TensorBoard did not load the run:\n" + "".join(tb.log[-20:]))
            time.sleep(0.5)
        startup = time.perf_counter() - t
        ours_t, theirs_t = [], []
        for _ in range(3):
            timed_get(ours)
            timed_get(theirs)
        for _ in range(args.repeats):
            ours_t.append(timed_get(ours)[0])
            theirs_t.append(timed_get(theirs)[0])
        _, body = timed_get(ours)
        _, zbody = timed_get(ours, gzip=True)
        _, scal_body = timed_get(theirs)
        export_t, export_body = timed_get(
            tb.url + "/data/plugin/learning_rate/export?run=big&format=csv"
        )
        lr = json.loads(body)
        return {
            "startup": startup,
            "ours": statistics.median(ours_t) * 1e3,
            "theirs": statistics.median(theirs_t) * 1e3,
            "size": len(body),
            "gzip": len(zbody),
            "kept": sum(len(o["step"]) for o in lr["optimizers"]),
            "points": lr["points"],
            "their_size": len(scal_body),
            "their_points": len(json.loads(scal_body)),
            "cold": cold,
            "export": export_t,
            "export_size": len(export_body),
            "export_rows": export_body.count(b"\n") - 1,
        }
    finally:
        tb.stop()


if __name__ == "__main__":
    sys.exit(main())
