"""`tb-lr-audit --html`: the time to write the report, its size, and the
time from opening it to both charts drawn.

Writes `--runs` runs of `--steps` steps as `LearningRateLogger` and
`ReduceLROnPlateau` write them (bench_audit.write_logdir, at 2,000 steps an
epoch: an LR and a batch loss at every step, the epoch logs, the plateau
state, a reduction now and then), then, in separate processes and interleaved repeats (median):

- `json`: `tb-lr-audit LOGDIR --format json` (the baseline: start-up,
  loading every record, auditing, writing the JSON);
- `html`: `tb-lr-audit LOGDIR --format json --html FILE` (the same, plus
  collecting the routes' answers, display-downsampling, encoding the
  export and writing the page). Printed as the ratio html / json.
- `open`: the report opened from file:// in headless Chromium, network
  off, until both charts have drawn (tests/browser/drive_report.mjs).

Then the report's size for each count in `--size-runs` (the first N runs
of a logdir of max(--size-runs) runs). The issue's target: under 2 MB for
10 runs of 100,000 steps.

Usage:
    python bench/bench_report.py [--runs 10] [--steps 100000] [--repeats 3]
                                 [--size-runs 1,10,100] [--logdir DIR]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_audit  # noqa: E402
from bench_audit import _cli, write_logdir  # noqa: E402

# 2,000 steps an epoch: 50 epochs of 100,000 steps and 3 to 5 reductions
# a run. At bench_audit's 200 (500 epochs), a reduction every
# few epochs with min_lr=0 halves the LR some 120 times, to 1e-40.
bench_audit.STEPS_PER_EPOCH = 2000

DRIVER = os.path.join(ROOT, "tests", "browser", "drive_report.mjs")
LIMIT_10_RUNS = 2 * 1024 * 1024


def timed(cmd):
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(cmd, stdout=sink, stderr=sink, check=True)
    return time.perf_counter() - t0


def time_open(page, out_dir):
    """Milliseconds from navigation to both charts drawn, or None without a browser."""
    node = shutil.which("node")
    if node is None or not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        return None
    proc = subprocess.run(
        [node, DRIVER, "--file", page, "--out", out_dir, "--name", "bench-report"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": proc.stderr[-2000:]}
    if not result.get("ok"):
        print(f"browser error: {result.get('error')}", flush=True)
        return None
    return result["firstDrawMs"]


def pattern(n):
    """A `--run` regex selecting the first `n` runs (`run000` ...)."""
    return "|".join(f"run{i:03d}" for i in range(n))


def write(logdir, runs, steps):
    t0 = time.perf_counter()
    write_logdir(logdir, runs, steps)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)
    print(
        f"wrote {runs} runs x {steps} steps ({size / 1e6:.0f} MB of event files) "
        f"in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )


def sizes(logdir, counts, tmp):
    out = {}
    for n in counts:
        page = os.path.join(tmp, f"size{n}.html")
        subprocess.run(
            _cli() + [logdir, "--run", pattern(n), "--html", page, "--format", "json"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        out[n] = os.path.getsize(page)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size-runs", default="1,10,100")
    parser.add_argument("--logdir", help="reuse or keep the generated logdir here")
    args = parser.parse_args()
    counts = [int(n) for n in args.size_runs.split(",")]

    tmp = tempfile.mkdtemp(prefix="bench_report_")
    try:
        logdir = args.logdir or os.path.join(tmp, "logs")
        runs = max(counts + [args.runs])
        stamp, marker = os.path.join(logdir, ".bench_report"), f"{runs}x{args.steps}"
        if not (os.path.exists(stamp) and open(stamp).read() == marker):
            shutil.rmtree(logdir, ignore_errors=True)
            write(logdir, runs, args.steps)
            with open(stamp, "w") as f:
                f.write(marker)
        select = ["--run", pattern(args.runs)]
        page = os.path.join(tmp, "report.html")
        json_s, html_s, open_ms = [], [], []
        for i in range(args.repeats):
            json_s.append(timed(_cli() + [logdir, *select, "--format", "json"]))
            html_s.append(timed(_cli() + [logdir, *select, "--format", "json", "--html", page]))
            ms = time_open(page, tmp)
            if ms is not None:
                open_ms.append(ms)
            print(
                f"  repeat {i + 1}: json {json_s[-1]:.2f} s, json + html {html_s[-1]:.2f} s"
                + (f", open to both charts drawn {ms} ms" if ms is not None else ""),
                flush=True,
            )
        j, h = statistics.median(json_s), statistics.median(html_s)
        print(f"report of {args.runs} runs x {args.steps} steps: {os.path.getsize(page)} bytes")
        print(f"median tb-lr-audit --format json: {j:.2f} s")
        print(f"median tb-lr-audit --format json --html FILE: {h:.2f} s")
        print(f"ratio html / json = {h / j:.2f}")
        if open_ms:
            first = statistics.median(open_ms)
            print(f"median open (file://) to both charts drawn: {first:.0f} ms")
        missed = False
        for n, size in sizes(logdir, counts, tmp).items():
            note = ""
            if n == 10 and args.steps == 100_000:
                missed = size >= LIMIT_10_RUNS
                note = " (target < 2 MB: " + ("MISSED)" if missed else "met)")
            print(f"report size, {n} runs x {args.steps} steps: {size / 1e6:.2f} MB{note}")
        return 1 if missed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
