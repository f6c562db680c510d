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
    runs = []
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        runs.append((path, None, []))
        if path.endswith("bench_callbacks.py"):
            # The callbacks' overhead on each Keras backend, and on tf_keras.
            runs += [(path, "jax", []), (path, "torch", []), (path, None, ["--tf-keras"])]
    for path, backend, args in runs:
        name = os.path.basename(path) + (f" (KERAS_BACKEND={backend})" if backend else "")
        name += "".join(f" {a}" for a in args)
        print(f"== {name}", flush=True)
        env = dict(os.environ, **({"KERAS_BACKEND": backend} if backend else {}))
        if subprocess.call([sys.executable, path, *args], env=env) != 0:
            failed.append(name)
    if failed:
        print("targets missed in: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
