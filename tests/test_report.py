"""`tb-lr-audit --html`, `--format markdown`, `--fail-on`, `--run` patterns,
and `tb_lr_plugin.report()`, on the `make demo` logdir (tests/data/demo_logs,
written by examples/run_all.py) and on runs with hostile names.

The browser half (the report drawn from file:// in Chromium, and in a
Jupyter kernel) is tests/browser/test_report_in_browser.py.
"""

import base64
import hashlib
import html
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_run

from tb_lr_plugin import cli, html_report, markdown

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "data", "demo_logs")
HOSTILE = "</script><script>alert(1)</script>\u2028&amp;<!--"
pytestmark = pytest.mark.skipif(
    not os.path.exists(html_report.BUNDLE), reason="the frontend bundle is missing (make build)"
)


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def report_data(page):
    """The JSON inlined in a report page, as the browser reads it."""
    m = re.search(
        r'<script type="application/json" id="tb-lr-report-data">(.*?)</script>', page, re.S
    )
    assert m, "no data element"
    return json.loads(m.group(1))


def decode_column(col):
    """`html_report.encode_column` undone, as inline_data.js undoes it."""
    ((kind, items),) = col.items()
    pairs = [item if isinstance(item, list) else [item, 1] for item in items]
    values, counts = [p[0] for p in pairs], [p[1] for p in pairs]
    if kind == "f32":
        bits = np.cumsum(np.repeat(np.array(values, dtype=np.int64), counts))
        return bits.astype(np.int32).view(np.float32).astype(np.float64)
    specials = {None: np.nan, "inf": np.inf, "-inf": -np.inf}
    values = [specials.get(v, v) if not isinstance(v, float) else v for v in values]
    return np.repeat(np.array(values, dtype=np.float64), counts)


def decode_steps(runs):
    return np.concatenate([np.arange(a, a + n) for a, n in runs]) if runs else np.zeros(0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "demo.html"
    code, _, err = run_cli(DEMO, "--html", out)
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    code, text, err = run_cli(DEMO, "--format", "json")
    assert code == 0, err
    return page, report_data(page), json.loads(text)


def test_report_holds_every_event_and_finding_of_format_json(demo):
    _, data, audit = demo
    assert [r["run"] for r in data["runs"]] == [r["run"] for r in audit["runs"]]
    assert len(audit["runs"]) == 9
    for run in audit["runs"]:
        answers = data["answers"][run["run"]]
        assert answers["events"]["events"] == run["events"], run["run"]
        assert answers["audit"]["findings"] == run["findings"], run["run"]
        assert answers["finder"]["tests"] == run["finder"], run["run"]
    assert sum(len(r["events"]) for r in audit["runs"]) > 0
    assert sum(len(r["findings"]) for r in audit["runs"]) > 0


def test_report_answers_are_the_routes_answers(demo, tensorboard_app):
    _, data, _ = demo
    tb = tensorboard_app(DEMO)
    tb.reload()
    listed = json.loads(tb.get("runs").data)["runs"]
    assert data["runs"] == listed
    for entry in listed:
        run = entry["run"]
        for route in ("lr", "loss", "events", "audit", "finder"):
            response = tb.get(route, run=run)
            assert response.status_code == 200
            assert data["answers"][run][route] == json.loads(response.data), (run, route)


def test_inlined_export_is_every_recorded_row_exactly(demo, tensorboard_app):
    _, data, _ = demo
    tb = tensorboard_app(DEMO)
    tb.reload()
    for run, optimizers in data["export"].items():
        exported = json.loads(tb.get("export", run=run, format="json").data)["optimizers"]
        assert [o["name"] for o in optimizers] == list(exported)
        for o in optimizers:
            want = exported[o["name"]]
            np.testing.assert_array_equal(decode_steps(o["step"]), want["step"])
            for col in ("planned", "actual"):
                got = decode_column(o[col])
                ref = np.array([np.nan if v is None else v for v in want[col]], dtype=np.float64)
                assert got.tobytes() == ref.tobytes(), (run, o["name"], col)


def test_encode_column_is_lossless_for_every_kind_of_float():
    f64 = np.array([1e-3, 1e-3, -0.0, 0.0, np.nan, np.nan, np.inf, -np.inf, 5e-324, 0.1])
    col = html_report.encode_column(f64)
    assert col == {"f64": [[1e-3, 2], -0.0, 0.0, [None, 2], "inf", "-inf", 5e-324, 0.1]}
    back = decode_column(json.loads(json.dumps(col)))
    assert back.tobytes() == f64.tobytes()
    # Keras's float32 LRs: a warm-up, a cosine decay, a constant, -0.0, inf, NaN.
    steps = np.arange(5000)
    cosine = 1e-3 * 0.5 * (1 + np.cos(np.pi * steps / 5000))
    f32 = np.concatenate([cosine, np.full(100, 1e-4), [-0.0, 0.0, np.inf, -np.inf]])
    f32 = f32.astype(np.float32).astype(np.float64)
    col = html_report.encode_column(f32)
    assert "f32" in col and len(json.dumps(col, separators=(",", ":"))) < 8 * len(f32)
    assert decode_column(json.loads(json.dumps(col))).tobytes() == f32.tobytes()
    with_nan = np.array([np.nan, 1.0, np.nan], dtype=np.float64)
    np.testing.assert_array_equal(decode_column(html_report.encode_column(with_nan)), with_nan)
    assert html_report.encode_steps(np.array([1, 2, 3, 7, 8, 10])) == [[1, 3], [7, 2], [10, 1]]


def test_page_has_a_csp_allowing_no_network_and_its_script_and_style_by_hash(demo):
    page, _, _ = demo
    csp = html.unescape(
        re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)[1]
    )
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert "connect-src" not in directives  # falls back to 'none'
    script = re.search(r'<script type="module">(.*)</script>', page, re.S)[1]
    style = re.search(r'<style id="tb-lr-style">(.*)</style>', page, re.S)[1]

    def sha256(text):
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert directives["script-src"] == sha256(script)
    assert directives["style-src"] == sha256(style)
    assert "unsafe" not in csp and "http" not in csp and "data:" not in csp


def hostile_logdir(root):
    for name in (HOSTILE, "plain"):
        write_run(os.path.join(root, name), steps=120, epochs=6, reductions=(1, 3))
    return root


def test_hostile_run_names_are_inlined_as_data_never_as_markup(tmp_path):
    logdir = hostile_logdir(tmp_path / "logs")
    out = tmp_path / "r.html"
    code, _, err = run_cli(logdir, "--html", out)
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    # Only the page's own two scripts open and close; no comment opener.
    assert page.lower().count("<script") == 2 and page.lower().count("</script") == 2
    assert "<!--" not in page and "\u2028" not in page
    data = report_data(page)
    assert sorted(r["run"] for r in data["runs"]) == sorted([HOSTILE, "plain"])
    assert HOSTILE in data["answers"] and HOSTILE in data["export"]


def test_markdown_says_what_the_json_says(demo):
    _, _, audit = demo
    code, text, err = run_cli(DEMO, "--format", "markdown")
    assert code == 0, err
    sections = re.split(r"^### Run: ", text, flags=re.M)
    summary, per_run = sections[0], sections[1:]
    assert len(per_run) == len(audit["runs"])
    for run, section in zip(audit["runs"], per_run, strict=True):
        name = markdown.escape(run["run"])
        assert section.startswith(name + "\n")
        verdict = markdown.verdict(run["events"], run["findings"])
        assert f"| {name} | {markdown.escape(verdict)} |" in summary
        assert f"**{markdown.escape(verdict)}**" in section
        rows = [r for r in section.splitlines() if re.match(r"\| (\d+|-) \|", r)]
        changes = [e for e in run["events"] if e["kind"] in ("reduction", "lr_change", "scheduler")]
        assert len(rows) == len(changes)
        for row, event in zip(rows, changes, strict=True):
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            assert cells[0] == str(event["epoch"] + 1) and cells[1] == str(event["step"])
            assert cells[2] == markdown.escape(event["kind"])
        items = [line for line in section.splitlines() if line.startswith("- ")]
        assert len(items) == len(run["findings"])
        for item, f in zip(items, run["findings"], strict=True):
            assert f"**{f['severity']}** `{f['kind']}`" in item
            assert f"step {f['step']}" in item and item.endswith(markdown.escape(f["message"]))


def test_markdown_verdict_counts_reductions_ineffective_ones_and_the_floor():
    events = [{"kind": "reduction"}] * 3 + [{"kind": "cooldown"}]
    findings = [
        {"kind": "reduction_ineffective", "severity": "warning"},
        {"kind": "min_lr_reached", "severity": "warning", "epoch": 40},
    ]
    assert markdown.verdict(events, findings) == (
        "3 reductions, 1 ineffective, min_lr reached at epoch 41"
    )
    assert markdown.verdict([], []) == "no LR change, no findings"


def test_markdown_renders_hostile_names_as_text(tmp_path):
    logdir = hostile_logdir(tmp_path / "logs")
    code, text, err = run_cli(logdir, "--format", "markdown")
    assert code == 0, err
    assert "<" not in text and "\u2028" not in text
    assert "| &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;&lt;!-- |" in text


@pytest.mark.parametrize(
    "args, status",
    [
        (["--fail-on", "warning"], 1),  # 6_reduce_on_plateau: two warnings
        (["--fail-on", "info"], 1),
        (["--run", "1_fixed", "--fail-on", "info"], 0),
        (["--run", "1_fixed", "--fail-on", "warning"], 0),
        ([], 0),
        (["--fail-on", "error"], 2),
        (["--run", "no_such_run", "--fail-on", "warning"], 2),
    ],
)
def test_fail_on_exit_status(args, status):
    code, out, err = run_cli(DEMO, "--format", "json", *args)
    assert code == status, err
    if status == 2:
        assert out == "" and err.count("\n") == 1
    else:
        assert json.loads(out)["runs"]


def test_fail_on_info_also_fails_on_info_findings_and_warning_does_not():
    findings = [[{"severity": "info"}]]
    assert cli._fails(findings, "info") and not cli._fails(findings, "warning")
    assert not cli._fails(findings, None)


def test_run_is_repeatable_and_a_whole_name_regex():
    code, out, err = run_cli(
        DEMO, "--format", "json", "--run", "[12]_.*", "--run", "6_reduce_on_plateau"
    )
    assert code == 0, err
    assert [r["run"] for r in json.loads(out)["runs"]] == [
        "1_fixed",
        "2_exponential_decay",
        "6_reduce_on_plateau",
    ]
    # Anchored: "5_s" names no run and matches none whole.
    code, _, err = run_cli(DEMO, "--run", "5_s")
    assert code == 2 and "no run '5_s'" in err
    code, _, err = run_cli(DEMO, "--run", "(")
    assert code == 2 and "not a regular expression" in err


def test_html_to_an_unwritable_path_is_a_usage_error(tmp_path):
    code, _, err = run_cli(DEMO, "--html", tmp_path / "missing" / "r.html")
    assert code == 2 and err.startswith("tb-lr-audit: error: cannot write")


def test_notebook_report_imports_no_framework_and_saves_the_page(tmp_path):
    script = f"""
import sys
import tb_lr_plugin
assert "tb_lr_plugin.html_report" not in sys.modules  # imported on first use
r = tb_lr_plugin.report({DEMO!r}, run="6_.*")
assert r.runs == ["6_reduce_on_plateau"], r.runs
assert tb_lr_plugin.report is not None and callable(tb_lr_plugin.report)
r.save({str(tmp_path / "nb.html")!r})
frame = r._repr_html_()
assert frame.startswith("<iframe") and 'sandbox="allow-scripts allow-downloads"' in frame
for heavy in ("tensorflow", "keras", "torch", "jax"):
    assert heavy not in sys.modules, heavy
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    page = (tmp_path / "nb.html").read_text(encoding="utf-8")
    assert [r["run"] for r in report_data(page)["runs"]] == ["6_reduce_on_plateau"]
