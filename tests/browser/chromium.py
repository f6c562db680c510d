"""What the browser tests share: the `node` fixture and running a driver.

Each test module trains or writes its logdir, serves it with a real
`tensorboard` on 127.0.0.1, and runs one `drive_*.mjs` script (playwright-core
driving Debian's Chromium; tests/browser/lib.mjs), which prints one JSON
report. Needs the built bundle (`make build`), Node with frontend/node_modules
(`npm ci` in frontend/) and /usr/bin/chromium: missing any of them skips the
module on a workstation and fails it in CI (`CI=true`).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "tb_lr_plugin" / "static" / "index.js"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).parent


def require(ok, why):
    """Skips the test (fails it in CI) when `ok` is false."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (required in CI)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def node():
    """The `node` executable, once Chromium, playwright-core and the bundle are there."""
    require(os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    path = shutil.which("node")
    require(path is not None, "Node.js is not installed")
    require(
        (REPO / "frontend" / "node_modules" / "playwright-core").is_dir(),
        "frontend/node_modules is missing (cd frontend && npm ci)",
    )
    require(BUNDLE.is_file(), "the frontend bundle is missing (make build)")
    return path


def drive(node, script, *args, timeout, artifact):
    """Runs tests/browser/`script` with `args` and returns its JSON report.

    Args:
        node: the `node` fixture.
        script: the driver's file name, e.g. "drive_tab.mjs".
        *args: its command line (`--url URL`, ...); `--chromium` is added.
        timeout: seconds before the run is killed.
        artifact: file name under test-artifacts/ the report is saved to.

    Returns:
        The report (a dict); `report["ok"]` says whether the driver got to its end.
    """
    out = subprocess.run(
        [node, str(HERE / script), *args, "--chromium", CHROMIUM],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in out.stdout.split("\n") if line.startswith("{")]
    assert lines, f"the driver printed no report (exit {out.returncode}):\n{out.stderr[-3000:]}"
    report = json.loads(lines[-1])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / artifact).write_text(json.dumps(report, indent=1))
    return report
