"""Trains the six examples (what `make demo` runs), two at a time.

Usage:
  python examples/run_all.py --logdir logs/demo
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = [
    ("fixed.py", "1_fixed"),
    ("exponential_decay.py", "2_exponential_decay"),
    ("polynomial_decay.py", "3_polynomial_decay"),
    ("cosine_decay.py", "4_cosine_decay"),
    ("scheduler.py", "5_scheduler"),
    ("reduce_on_plateau.py", "6_reduce_on_plateau"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join("logs", "demo"))
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="for every example (default: each its own)")
    args = parser.parse_args()
    # The scripts run in this folder; the logdir is where the user said.
    args.logdir = os.path.abspath(args.logdir)
    start = time.monotonic()
    pending = list(EXAMPLES)
    running = []
    failed = []
    while pending or running:
        while pending and len(running) < args.parallel:
            script, run = pending.pop(0)
            print(f"training {run} ({script})", flush=True)
            cmd = [
                sys.executable,
                os.path.join(HERE, script),
                "--logdir",
                os.path.join(args.logdir, run),
                "--verbose",
                "0",
            ]
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            running.append((run, subprocess.Popen(cmd, cwd=HERE)))
        for run, proc in list(running):
            if proc.poll() is not None:
                running.remove((run, proc))
                if proc.returncode:
                    failed.append(run)
        time.sleep(0.1)
    print(f"six runs in {args.logdir} after {time.monotonic() - start:.0f} s")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
