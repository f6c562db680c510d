"""The benchmarks still run and measure, at a toy size.

`make bench` and `make soak` are not part of `make test` (they take many
minutes), so a change to the tab or the routes could break a benchmark
unnoticed (a third chart once made `bench_frontend` wait for two charts
forever). Each runs here on a small logdir; what is checked is that it
measured, not its ratios: at this size and on a shared machine they say
nothing.
"""

import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


def run_bench(script, *args, timeout=600):
    result = subprocess.run(
        [sys.executable, os.path.join(BENCH, script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    return result.stdout, output


def test_bench_frontend_times_both_dashboards_and_the_zoom():
    stdout, output = run_bench(
        "bench_frontend.py",
        "--steps",
        "3000",
        "--runs",
        "2",
        "--repeats",
        "1",
        "--compare-runs",
        "6",
        "--compare-steps",
        "4000",
        # A cold start on this toy logdir waits for TensorBoard's reload
        # (the dashboards are not enabled yet); `make bench` measures it.
        "--cold-repeats",
        "0",
    )
    assert "browser error" not in output, output[-3000:]
    assert "ratio ours / scalars:" in stdout, output[-3000:]
    # Six runs selected: one request for the charts' data (and one for the
    # findings), not four per run.
    requests = int(stdout.split("chart requests per navigation (grid):")[1].split()[0])
    assert 1 <= requests <= 2, stdout[-3000:]
    assert "zoom redraw, both charts:" in stdout
    assert "comparing 6 runs x 4,000 steps" in stdout, output[-3000:]
    assert "small-multiples grid drawn:" in stdout
    assert "zoom redraw, the whole grid:" in stdout


def test_bench_routes_times_ours_against_tensorboards_scalars():
    stdout, output = run_bench(
        "bench_routes.py", "--steps", "20000", "--epochs", "20", "--repeats", "3"
    )
    assert stdout.count("ratio ours/theirs:") == 2, output[-3000:]


def test_bench_audit_times_the_cli_against_tensorboards_loader():
    stdout, output = run_bench("bench_audit.py", "--runs", "4", "--steps", "2000", "--repeats", "1")
    assert "ratio cli / tb python load =" in stdout, output[-3000:]
    assert "output identical with every record parsed by protobuf: yes" in stdout


def test_bench_report_times_the_report_against_json_and_its_first_draw():
    stdout, output = run_bench(
        "bench_report.py", "--runs", "2", "--steps", "4000", "--repeats", "1", "--size-runs", "1,2"
    )
    assert "browser error" not in output, output[-3000:]
    assert "ratio html / json =" in stdout, output[-3000:]
    assert "to both charts drawn:" in stdout
    assert "report size, 2 runs x 4000 steps:" in stdout


def test_soak_polls_every_route_during_a_training_and_after_it():
    stdout, output = run_bench(
        "soak.py", "--minutes", "0.4", "--clients", "2", "--warmup", "6", "--hold", "12"
    )
    assert "hold (12 s polling, no new data)" in stdout, output[-3000:]
    statuses = stdout.split("by status:\n")[1].splitlines()[0].strip()
    assert statuses.startswith("200:") and "," not in statuses, statuses  # only 200s


def test_bench_remote_times_the_logger_on_s3_and_the_upload_cost():
    stdout, output = run_bench(
        "bench_remote.py", "--epochs", "2", "--steps", "50", "--repeats", "1",
        "--growth-epochs", "8",
    )
    assert "logger on s3:// vs no callback:" in stdout, output[-3000:]
    assert "ratio late / early:" in stdout, output[-3000:]


def test_bench_torch_times_the_logger_and_the_lightning_callback():
    stdout, output = run_bench(
        "bench_torch.py", "--steps", "200", "--repeats", "2", "--lightning-steps", "20"
    )
    assert "logger / none, CPU time: " in stdout, output[-3000:]
    assert "logger / none, wall clock: " in stdout
    assert "the hook alone: " in stdout
    assert "ours / LearningRateMonitor(logging_interval='step') = " in stdout
