"""The report of `tb-lr-audit --html` in real headless Chromium, from file://
with the network off, and `tb_lr_plugin.report()` in a real Jupyter kernel.

A small real Keras training (the one tests/browser/test_tab.py draws in
TensorBoard: plateau reductions with cooldowns and the min_lr floor, a run
named like an HTML injection, an LR range test) is written to a report;
`drive_report.mjs` opens it, clicks through it and reports what it saw.
The `make demo` logdir (tests/data/demo_logs) is reported too, every run
selected. Screenshots (light and dark) go to test-artifacts/.
"""

import html
import io
import json
import re

import pytest
import test_hardening as hostile
from chromium import ARTIFACTS, REPO
from chromium import drive as run_driver
from chromium import node as _node
from test_tab import HOSTILE, _train

from tb_lr_plugin import cli

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]
node = _node  # the fixture, for this module's tests
DEMO = REPO / "tests" / "data" / "demo_logs"


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run([str(a) for a in argv], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def inlined(page_path):
    page = page_path.read_text(encoding="utf-8")
    m = re.search(
        r'<script type="application/json" id="tb-lr-report-data">(.*?)</script>', page, re.S
    )
    return json.loads(m.group(1))


def drive(node, page, name, *flags):
    result = run_driver(
        node,
        "drive_report.mjs",
        *("--file", str(page), "--out", str(ARTIFACTS), "--name", name, *flags),
        timeout=240,
        artifact=f"{name}.json",
    )
    assert result["ok"], result.get("error")
    return result


def assert_offline_and_clean(result, page):
    assert result["consoleErrors"] == [] and result["pageErrors"] == []
    assert result["dialogs"] == [] and result["blocked"] == []
    assert set(result["requests"]) == {page.as_uri()}, result["requests"]
    for state in (result["all"], result["dark"]):
        assert state["csp"] == []


@pytest.fixture(scope="module")
def trained(node, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("report_logs")
    _train(str(logdir))
    page = logdir.parent / "trained.html"
    run_cli(logdir, "--html", page)
    result = drive(node, page, "report", "--zoom", "1", "--download", "plateau")
    return logdir, page, result


def test_both_charts_draw_from_file_with_no_request(trained):
    _, page, result = trained
    assert_offline_and_clean(result, page)
    for state in (result["all"], result["dark"]):
        assert state["state"] == "ready"
        assert state["loss"]["ink"] > 0 and state["lr"]["ink"] > 0


def test_one_marker_per_reduction_and_table_rows_match_the_events(trained):
    _, page, result = trained
    data = inlined(page)
    shown = result["all"]["selected"]
    assert sorted(shown) == sorted(["plateau", HOSTILE, "finder"])
    events = [
        e
        for r in data["runs"]
        if r["run"] in shown
        for e in data["answers"][r["run"]]["events"]["events"]
    ]
    reductions = sum(e["kind"] == "reduction" for e in events)
    assert reductions >= 3
    assert result["all"]["markers"].get("reduction") == reductions
    rows = result["all"]["rows"]
    assert [r["kind"] for r in rows] == [e["kind"] for e in events]
    steps = [r["cells"][3] for r in rows]  # run, kind, epoch, step, ...
    assert steps == [f"{e['step']:,}" for e in events]


def test_a_row_click_zooms_both_charts(trained):
    _, _, result = trained
    zoom = result["zoom"]
    before, after = zoom["before"], zoom["after"]
    assert after[1] - after[0] < before[1] - before[0]
    assert zoom["lrAfter"] == after


def test_hostile_run_name_renders_as_text(trained):
    _, _, result = trained
    assert HOSTILE in result["all"]["runNames"]
    assert result["all"]["imgCount"] == 0 and result["dialogs"] == []


def test_follows_the_system_colour_scheme(trained):
    _, _, result = trained
    assert not result["all"]["dark"] and result["dark"]["dark"]
    assert result["all"]["background"] != result["dark"]["background"]
    assert (ARTIFACTS / "report-light.png").stat().st_size > 10_000
    assert (ARTIFACTS / "report-dark.png").stat().st_size > 10_000


def test_csv_and_json_buttons_give_exactly_the_export(trained, tensorboard_app):
    logdir, _, result = trained
    downloads = result["downloads"]
    assert downloads["csv"]["suggested"] == "plateau.lr.csv"
    csv = open(downloads["csv"]["file"], encoding="utf-8", newline="").read()
    assert csv == run_cli(logdir, "--run", "plateau", "--format", "csv")
    tb = tensorboard_app(logdir)
    tb.reload()
    route = json.loads(tb.get("export", run="plateau", format="json").data)
    assert json.loads(open(downloads["json"]["file"], encoding="utf-8").read()) == route


def test_demo_report_shows_every_event_of_every_run(node, tmp_path):
    page = tmp_path / "demo.html"
    run_cli(DEMO, "--html", page)
    audit = json.loads(run_cli(DEMO, "--format", "json"))
    run = "6_reduce_on_plateau"
    result = drive(node, page, "report-demo", "--select-all", "1", "--download", run)
    assert_offline_and_clean(result, page)
    rows = result["all"]["rows"]
    events = [e for r in audit["runs"] for e in r["events"]]
    assert len(result["all"]["selected"]) == len(audit["runs"]) == 9
    assert [(r["cells"][0], r["kind"]) for r in rows] == [
        (r["run"], e["kind"]) for r in audit["runs"] for e in r["events"]
    ]
    assert len(rows) == len(events) > 0
    findings = [f["message"] for r in audit["runs"] for f in r["findings"]]
    assert sorted(f["message"] for f in result["all"]["findings"]) == sorted(findings)
    # The CSV button gives exactly the export rows.
    csv = open(result["downloads"]["csv"]["file"], encoding="utf-8", newline="").read()
    assert csv == run_cli(DEMO, "--run", run, "--format", "csv")
    assert csv.count("\n") > 2000


def test_report_in_a_jupyter_kernel_draws_in_chromium(node, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"from tb_lr_plugin import report\nreport({str(DEMO)!r}, run='6_.*')"
        ),
        nbformat.v4.new_code_cell(
            "import sys\nprint([m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules])"
        ),
    ]
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    (shown,) = [o for o in nb.cells[0].outputs if o.get("output_type") == "execute_result"]
    frame = shown["data"]["text/html"]
    assert frame.startswith("<iframe") and "<script" not in frame  # all inside srcdoc
    assert nb.cells[1].outputs[0]["text"].strip() == "[]"
    page = tmp_path / "notebook.html"
    page.write_text(f"<!DOCTYPE html><html><body>{frame}</body></html>", encoding="utf-8")
    result = drive(node, page, "report-notebook", "--frame", "1")
    assert result["consoleErrors"] == [] and result["pageErrors"] == [] and result["blocked"] == []
    assert result["all"]["state"] == "ready"
    assert result["all"]["loss"]["ink"] > 0 and result["all"]["lr"]["ink"] > 0
    assert result["all"]["runNames"] == ["6_reduce_on_plateau"]
    assert html.unescape(frame).count('id="tb-lr-report-data"') == 1


def test_the_tabs_hostile_names_render_as_text_in_the_report(node, tmp_path):
    """The names of tests/browser/test_hardening.py (markup, scripts, quotes,
    control characters, 1 KB names; one run from a real Keras training),
    in a report: every name reads back exactly and nothing runs."""
    logdir = tmp_path / "names"
    hostile._train(logdir.joinpath(*hostile.TRAINED_RUN.split("/")))
    hostile._write_named(
        logdir / hostile.CONTROL_RUN,
        [hostile.QUOTE_OPTIMIZER],
        hostile.LONG_METRIC,
        "val_" + hostile.LONG_METRIC,
    )
    hostile._write_named(
        logdir.joinpath(*hostile.LONG_RUN.split("/")),
        [hostile.LONG_OPTIMIZER, "adam"],
        "loss",
        hostile.MONITOR,
    )
    page = tmp_path / "names.html"
    run_cli(logdir, "--html", page)
    result = drive(node, page, "report-names", "--select-all", "1")
    assert_offline_and_clean(result, page)
    shown = result["all"]
    assert sorted(shown["runNames"]) == hostile.RUNS
    assert sorted(shown["exportNames"]) == hostile.RUNS
    assert shown["injected"] == {
        "pwned": None,
        "pwnElements": 0,
        "handlerAttributes": 0,
        # render() empties <body>, the page's own two scripts with it: any
        # script element left would have been injected.
        "scripts": 0,
    }
    assert shown["imgCount"] == 0
    legend = "\n".join(shown["legend"])
    for name in (hostile.QUOTE_OPTIMIZER, hostile.LONG_OPTIMIZER, hostile.TRAINED_METRIC):
        assert name in legend, name[:60]
    assert hostile.MONITOR in shown["tableText"]
