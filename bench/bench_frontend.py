"""The Learning Rate tab against TensorBoard's own Scalars dashboard, in Chromium.

Writes 3 runs of 1,000,000 steps the way `LearningRateLogger` records them
(records of 5,000 rows of planned and actual LR and batch loss, an `epochs`
record per epoch, plateau events with cooldowns), plus the loss as Keras's
TensorBoard callback writes it (`<run>/train` `batch_loss` per step and
`epoch_loss`, `<run>/validation` `epoch_loss`), starts a real `tensorboard`
on 127.0.0.1 and, in headless Chromium (bench_frontend.mjs), times:

- ours:  navigation to `/#learning_rate` -> both charts drawn, 3 runs;
- yours: navigation to `/#scalars` -> the same runs' loss charts drawn;
- zoom:  a drag-zoom on the loss chart -> both charts redrawn.

Interleaved repeats; medians printed with the ratio ours / yours.
Targets (issue 5): ratio <= 1, zoom redraw < 50 ms.

Then cold starts (`--cold-repeats`): a `tensorboard` started afresh for
each navigation, nothing loaded or cached, ours (every run drawn) and
Scalars interleaved on the same logdir (issue 17: ratio <= 1).

Then the comparison of many runs (issue 19): 50 runs x 100,000 steps
(`--compare-runs`, `--compare-steps`; 0 runs skips it), every run selected:
navigation -> run table and both charts drawn (target <= 1.0 s after
boot); navigation -> the
small-multiples grid drawn (target <= 1.5 s after TensorBoard's app
booted); a drag-zoom in the grid -> every cell redrawn (target < 30 ms).

    python bench/bench_frontend.py [--steps N] [--runs N] [--repeats N] [--logdir DIR]
        [--compare-runs N] [--compare-steps N]

`--runs 0` times only the comparison of many runs.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tb_lr_plugin import metadata, record  # noqa: E402
from tb_lr_plugin.event_writer import EventWriter  # noqa: E402

CHUNK = 5000
STEPS_PER_EPOCH = 1000
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def simulate(total, seed):
    """Planned/actual LR, batch loss, epoch loss and plateau events of one run."""
    rng = np.random.default_rng(seed)
    steps = np.arange(1, total + 1, dtype=np.float64)
    epochs = total // STEPS_PER_EPOCH
    planned = np.full(total, 1e-3)
    actual = planned.copy()
    events = []
    lr, floor = 1e-3, 1e-6
    # A reduction every ~12% of the run, a 3-epoch cooldown after each.
    for k, frac in enumerate((0.12, 0.25, 0.37, 0.5, 0.62, 0.75, 0.87)):
        epoch = int(epochs * frac) + seed
        step = (epoch + 1) * STEPS_PER_EPOCH
        new = max(lr * 0.3, floor)
        common = {"epoch": epoch, "step": step, "optimizer": "adam", "monitor": "val_loss"}
        if new < lr:
            events.append(
                dict(
                    common,
                    kind="reduction",
                    value=0.5 + 0.01 * k,
                    best=0.49,
                    wait=5,
                    patience=5,
                    old_lr=lr,
                    new_lr=new,
                    factor=0.3,
                    min_lr=floor,
                    cooldown=3,
                )
            )
            events.append(dict(common, kind="cooldown", phase="start", cooldown=3))
            end = (epoch + 4) * STEPS_PER_EPOCH
            events.append(
                dict(common, kind="cooldown", phase="end", cooldown=3, epoch=epoch + 3, step=end)
            )
            actual[step:] = new
            lr = new
    progress = np.cumsum(actual) * 1e3 / total * 20
    batch = 0.3 + 2.0 * np.exp(-progress / 3) + 0.05 * rng.standard_normal(total) ** 2
    ends = np.arange(STEPS_PER_EPOCH, total + 1, STEPS_PER_EPOCH)
    epoch_loss = batch.reshape(epochs, STEPS_PER_EPOCH).mean(axis=1)
    val_loss = epoch_loss + 0.1 + 0.02 * rng.standard_normal(epochs)
    return steps, planned, actual, batch, ends, epoch_loss, val_loss, events


def write_ours(run_dir, sim):
    steps, planned, actual, batch, ends, epoch_loss, val_loss, events = sim
    w = EventWriter(run_dir)
    w.add_json(
        metadata.KIND_SESSION,
        metadata.TAG_SESSION,
        [{"start_step": 0, "initial_epoch": 0, "optimizers": [{"name": "adam"}]}],
        0,
    )
    by_step = {}
    for e in events:
        by_step.setdefault(e["step"], []).append(e)
    for start in range(0, len(steps), CHUNK):
        part = slice(start, start + CHUNK)
        w.add_array(
            metadata.KIND_LR,
            metadata.lr_tag("adam"),
            np.stack([steps[part], planned[part], actual[part]], axis=1),
            optimizer="adam",
        )
        w.add_array(
            metadata.KIND_BATCH,
            metadata.batch_tag("loss"),
            np.stack([steps[part], batch[part]], axis=1),
            metric="loss",
        )
        for i in np.nonzero((ends > start) & (ends <= start + CHUNK))[0]:
            item = {
                "epoch": int(i),
                "step": int(ends[i]),
                "logs": {"loss": float(epoch_loss[i]), "val_loss": float(val_loss[i])},
            }
            w.add_json(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], int(ends[i]))
            # Every event of an epoch in one record (as the writer flushes them).
            if int(ends[i]) in by_step:
                w.add_json(
                    metadata.KIND_EVENTS, metadata.TAG_EVENTS, by_step[int(ends[i])], int(ends[i])
                )
        w.flush()
    w.close()


def write_scalars(run_dir, tag, steps, values, wall_time):
    """Standard scalar summaries (one `simple_value` event per step), as
    Keras's TensorBoard callback writes `batch_loss`; framed in bulk."""
    payloads = [
        event_pb2.Event(
            wall_time=wall_time + i * 1e-3,
            step=int(s),
            summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=v)]),
        ).SerializeToString()
        for i, (s, v) in enumerate(zip(steps.tolist(), values.tolist(), strict=True))
    ]
    header = event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2")
    parts = [record.frame(header.SerializeToString()), record.frame_many(payloads)]
    os.makedirs(run_dir, exist_ok=True)
    name = f"events.out.tfevents.{int(wall_time)}.bench.{os.getpid()}.{tag}.v2"
    with open(os.path.join(run_dir, name), "wb") as f:
        f.write(b"".join(parts))


def write_logdir(logdir, runs, total):
    marker = os.path.join(logdir, f".bench-frontend-{runs}x{total}")
    if os.path.exists(marker):
        return False
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    wall = time.time() - 3600
    for r in range(runs):
        name = f"run_{chr(ord('a') + r)}"
        sim = simulate(total, seed=r)
        steps, _, _, batch, ends, epoch_loss, val_loss, _ = sim
        write_ours(os.path.join(logdir, name), sim)
        write_scalars(os.path.join(logdir, name, "train"), "batch_loss", steps, batch, wall)
        epochs = np.arange(len(ends), dtype=np.float64)
        write_scalars(os.path.join(logdir, name, "train"), "epoch_loss", epochs, epoch_loss, wall)
        write_scalars(
            os.path.join(logdir, name, "validation"), "epoch_loss", epochs, val_loss, wall
        )
    open(marker, "w").close()
    return True


def compare_run_name(r):
    return f"run_{r:02d}"


def write_compare_logdir(logdir, runs, total):
    """`runs` runs as `LearningRateLogger` records them (no Keras scalars),
    each reducing at its own epochs and reaching its own best val_loss, for
    the comparison view (run table, small multiples)."""
    marker = os.path.join(logdir, f".bench-compare-{runs}x{total}")
    if os.path.exists(marker):
        return False
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    for r in range(runs):
        steps, planned, actual, batch, ends, epoch_loss, val_loss, events = simulate(
            total, seed=r % 4
        )
        val_loss = val_loss + 0.004 * ((r * 7) % runs)  # every run its own best
        sim = (steps, planned, actual, batch, ends, epoch_loss, val_loss, events)
        write_ours(os.path.join(logdir, compare_run_name(r)), sim)
    open(marker, "w").close()
    return True


class TensorBoard:
    """A `tensorboard` process on 127.0.0.1 and a free port."""

    def __init__(self, logdir):
        exe = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        cmd = [
            exe if os.path.exists(exe) else "tensorboard",
            "--logdir",
            logdir,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.lines = []
        self._found = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._found.wait(120):
            self.close()
            raise RuntimeError("tensorboard did not start:\n" + "".join(self.lines[-20:]))

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if m and not self._found.is_set():
                self.url = m.group(1)
                self._found.set()

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_loaded(tb, runs, total, timeout=600):
    """Until both our routes and TensorBoard's scalars have every run's last step."""
    deadline = time.time() + timeout
    names = [f"run_{chr(ord('a') + r)}" for r in range(runs)]
    while time.time() < deadline:
        try:
            ours = {r["run"]: r["steps"] for r in tb.get("/data/plugin/learning_rate/runs")["runs"]}
            scalars_done = all(
                tb.get(f"/data/plugin/scalars/scalars?run={n}/train&tag=batch_loss")[-1][1] == total
                for n in names
            )
            if all(ours.get(n) == total for n in names) and scalars_done:
                return
        except (OSError, ValueError, IndexError, KeyError):
            pass
        time.sleep(1)
    raise RuntimeError("TensorBoard did not load the runs in time")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--logdir", help="keep the written logs here (reused when present)")
    parser.add_argument("--compare-runs", type=int, default=50)
    parser.add_argument("--compare-steps", type=int, default=100_000)
    parser.add_argument(
        "--cold-repeats", type=int, default=3, help="cold starts of each (0: skip them)"
    )
    args = parser.parse_args()

    node = shutil.which("node")
    if not node or not os.path.exists(CHROMIUM):
        print("bench_frontend: needs node and Chromium; skipped")
        return 0
    if not os.path.exists(os.path.join(REPO, "tb_lr_plugin", "static", "index.js")):
        print("bench_frontend: the bundle is missing (make build)")
        return 1

    tmp = None
    logdir = args.logdir
    if not logdir:
        tmp = tempfile.mkdtemp(prefix="bench_frontend_")
        logdir = tmp
    if not args.runs:  # only the comparison of many runs
        try:
            ok = bench_compare(node, args, logdir)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        print("targets " + ("met" if ok else "MISSED"))
        return 0 if ok else 1
    t0 = time.time()
    wrote = write_logdir(logdir, args.runs, args.steps)
    print(
        f"{'wrote' if wrote else 'reused'} {args.runs} runs x {args.steps:,} steps "
        f"in {time.time() - t0:.1f} s ({logdir})",
        flush=True,
    )

    tb = TensorBoard(logdir)
    try:
        t0 = time.time()
        wait_loaded(tb, args.runs, args.steps)
        print(f"tensorboard loaded them in {time.time() - t0:.1f} s", flush=True)
        result = run_browser(node, tb.url, "--repeats", str(args.repeats), "--runs", str(args.runs))
        if result is None:
            return 1
    finally:
        tb.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    if result.get("error"):
        print("browser error:", result["error"])
        return 1
    ours = statistics.median(result["ours"])
    theirs = statistics.median(result["theirs"])
    zoom = statistics.median(result["zoom"])
    ratio = ours / theirs
    print(
        f"navigation -> charts drawn, {args.runs} runs x {args.steps:,} steps "
        f"(median of {args.repeats}, interleaved):"
    )
    print(f"  Learning Rate tab (loss + LR):   {ours:8.0f} ms   {_fmt(result['ours'])}")
    print(f"  Scalars dashboard (loss):        {theirs:8.0f} ms   {_fmt(result['theirs'])}")
    print(f"  ratio ours / scalars:            {ratio:8.2f}   (target <= 1)")
    ours_own = statistics.median(result["oursAfterBoot"])
    theirs_own = statistics.median(result["theirsAfterBoot"])
    print(
        f"  of which after TensorBoard's app booted: ours {ours_own:.0f} ms, "
        f"scalars {theirs_own:.0f} ms (ratio {ours_own / theirs_own:.2f})"
    )
    print(
        f"zoom redraw, both charts:          {zoom:8.1f} ms   {_fmt(result['zoom'], 1)}   "
        f"(target < 50 ms)"
    )
    for key, value in result.get("info", {}).items():
        print(f"  {key}: {value}")
    print_waterfall(result.get("waterfall") or {})
    ok = ratio <= 1 and zoom < 50
    if args.cold_repeats:
        cold = bench_cold(node, args, logdir)
        if cold is None:
            return 1
    if args.compare_runs:
        compared = bench_compare(node, args, logdir)
        if compared is None:
            return 1
        ok = ok and compared
    print("targets " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


def bench_cold(node, args, logdir):
    """Cold start: a `tensorboard` just started for each navigation (nothing
    loaded, nothing cached), ours and Scalars interleaved, on the same logdir.

    Returns:
      The median ratio ours / Scalars (navigation -> drawn), or None.
    """
    times = {"ours": [], "theirs": []}
    after = {"ours": [], "theirs": []}
    waterfall = None
    for _ in range(args.cold_repeats):
        for which in ("ours", "theirs"):
            tb = TensorBoard(logdir)
            try:
                result = run_browser(
                    node, tb.url, "--mode", "cold", "--which", which, "--runs", str(args.runs)
                )
            finally:
                tb.close()
            if result is None or result.get("error"):
                print("browser error:", result and result.get("error"))
                return None
            times[which].append(result["cold"]["ms"])
            after[which].append(result["cold"]["afterBoot"])
            waterfall = result.get("waterfall") or waterfall
    ours, theirs = statistics.median(times["ours"]), statistics.median(times["theirs"])
    print(
        f"cold start (tensorboard just started, nothing cached), {args.runs} runs "
        f"(median of {args.cold_repeats}):"
    )
    print(f"  Learning Rate tab, every run drawn: {ours:8.0f} ms   {_fmt(times['ours'])}")
    print(f"  Scalars dashboard:                  {theirs:8.0f} ms   {_fmt(times['theirs'])}")
    print(
        f"  ratio ours / scalars:               {ours / theirs:8.2f}   (target <= 1); after boot "
        f"ours {statistics.median(after['ours']):.0f} ms, "
        f"scalars {statistics.median(after['theirs']):.0f} ms"
    )
    print_waterfall(waterfall or {})
    return ours / theirs


def print_waterfall(waterfall, limit=None):
    """Each request of our tab's first, a later and a cold navigation: start,
    end (ms since navigation start), and when TensorBoard had booted and both
    charts were drawn."""
    for which in ("first", "later", "cold", "table", "grid"):
        nav = waterfall.get(which)
        if not nav:
            continue
        print(
            f"waterfall, {which} navigation (booted at {nav['booted']} ms, "
            f"charts drawn at {nav['drawn']} ms):"
        )
        requests = nav["requests"]
        shown = (
            requests
            if limit is None or len(requests) <= 2 * limit
            else (requests[:limit] + requests[-limit:])
        )
        for k, (name, start, end) in enumerate(shown):
            if limit is not None and len(shown) < len(requests) and k == limit:
                print(f"  ... {len(requests) - len(shown)} more requests ...")
            print(f"  {start:6d} -> {end:6d} ms  {name[:90]}")


def bench_compare(node, args, logdir):
    """The comparison of many runs; prints its figures, returns whether the targets hold."""
    runs, steps = args.compare_runs, args.compare_steps
    compare_dir = logdir.rstrip("/") + f"-compare-{runs}x{steps}"
    t0 = time.time()
    wrote = write_compare_logdir(compare_dir, runs, steps)
    print(
        f"{'wrote' if wrote else 'reused'} {runs} runs x {steps:,} steps "
        f"in {time.time() - t0:.1f} s ({compare_dir})",
        flush=True,
    )
    names = [compare_run_name(r) for r in range(runs)]
    tb = TensorBoard(compare_dir)
    try:
        wait_listed(tb, names, steps)
        result = run_browser(
            node,
            tb.url,
            "--mode",
            "compare",
            "--names",
            json.dumps(names),
            "--repeats",
            str(args.repeats),
        )
    finally:
        tb.close()
        if not args.logdir:
            shutil.rmtree(compare_dir, ignore_errors=True)
    if result is None or result.get("error"):
        print("browser error:", result and result["error"])
        return None
    table = statistics.median(result["tableAfterBoot"])
    grid = statistics.median(result["gridAfterBoot"])
    zoom = statistics.median(result["gridZoom"])
    print(f"comparing {runs} runs x {steps:,} steps, all selected (median of {args.repeats}):")
    print(f"  chart requests per navigation (grid): {_chart_requests(result)}")
    print(
        f"  run table + both charts drawn:   {statistics.median(result['table']):8.0f} ms   "
        f"{_fmt(result['table'])}, after boot {table:.0f} ms"
    )
    print(
        f"  small-multiples grid drawn:      {statistics.median(result['grid']):8.0f} ms   "
        f"{_fmt(result['grid'])}, after boot {grid:.0f} ms (target <= 1500 ms)"
    )
    after_data = statistics.median(result["gridAfterData"])
    print(
        "  of which the grid's own drawing (last chart route answered -> grid drawn): "
        f"{after_data:.0f} ms   {_fmt(result['gridAfterData'])}"
    )
    print(
        f"  zoom redraw, the whole grid:     {zoom:8.1f} ms   {_fmt(result['gridZoom'], 1)}   "
        f"(target < 30 ms)"
    )
    print_waterfall(result.get("waterfall") or {}, limit=12)
    return table <= 1000 and grid <= 1500 and zoom < 30


def wait_listed(tb, names, steps, timeout=900):
    """Until the runs route lists every run at its last step."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            got = {r["run"]: r["steps"] for r in tb.get("/data/plugin/learning_rate/runs")["runs"]}
            if all(got.get(n) == steps for n in names):
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(1)
    raise RuntimeError("TensorBoard did not load the runs in time")


def run_browser(node, url, *args):
    """bench_frontend.mjs against `url`; its JSON result, or None (printed why)."""
    out = subprocess.run(
        [
            node,
            os.path.join(HERE, "bench_frontend.mjs"),
            "--url",
            url,
            *args,
            "--chromium",
            CHROMIUM,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print(out.stdout[-2000:], out.stderr[-3000:])
        return None
    return json.loads(lines[-1])


def _chart_requests(result):
    """How many data requests the tab made before the last grid navigation drew
    (its module and TensorBoard's own requests left out)."""
    nav = (result.get("waterfall") or {}).get("grid") or {}
    own = [name for name, _, _ in nav.get("requests", []) if name.startswith("lr/")]
    return sum(1 for name in own if not name.startswith(("lr/index.js", "lr/static")))


def _fmt(values, digits=0):
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


if __name__ == "__main__":
    sys.exit(main())
