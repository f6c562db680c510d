"""Runs every benchmark in this folder (`make bench`); each prints its ratios.

Exit status: non-zero if any benchmark reports a missed target.
"""

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    failed = []
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        name = os.path.basename(path)
        print(f"== {name}", flush=True)
        if subprocess.call([sys.executable, path]) != 0:
            failed.append(name)
    if failed:
        print("targets missed in: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
