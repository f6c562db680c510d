"""Pins every answer on the `make demo` logdir to the bytes an earlier
version gave, so a restructuring cannot change what users see.

`tests/data/demo_logs/` holds the event files `examples/run_all.py` wrote;
`tests/data/demo_answers.json` holds, for each route answer and each CLI
output, its status, content type, length and sha256. Regenerate it only
when a change of behaviour is intended:
`python tests/test_pin_demo.py --write`.
"""

import hashlib
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LOGDIR = os.path.join(HERE, "data", "demo_logs")
ANSWERS = os.path.join(HERE, "data", "demo_answers.json")
_RUN_ROUTES = ("lr", "events", "loss", "audit", "finder")


def _digest(status, content_type, body):
    return {
        "status": status,
        "type": content_type,
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def route_answers(app):
    """Every route's answer for every run, keyed `route?query`."""
    answers = {}
    app.reload()
    response = app.get("runs")
    answers["runs"] = _digest(response.status_code, response.content_type, response.data)
    runs = [r["run"] for r in json.loads(response.data)["runs"]]
    for run in runs:
        for route in _RUN_ROUTES:
            response = app.get(route, run=run)
            key = f"{route}?run={run}"
            answers[key] = _digest(response.status_code, response.content_type, response.data)
        for fmt in ("csv", "json"):
            response = app.get("export", run=run, format=fmt)
            key = f"export?run={run}&format={fmt}"
            answers[key] = _digest(response.status_code, response.content_type, response.data)
    return answers


def cli_answers():
    """The CLI's JSON and CSV over the whole logdir and per run.

    Runs from `tests/data` with a relative LOGDIR, so the answer does not
    depend on where the checkout lives.
    """
    from tb_lr_plugin import cli

    answers = {}
    cwd = os.getcwd()
    os.chdir(os.path.dirname(LOGDIR))
    try:
        for fmt in ("json", "csv", "table"):
            out, err = io.StringIO(), io.StringIO()
            code = cli.run(["demo_logs", "--format", fmt], stdout=out, stderr=err)
            body = out.getvalue().encode("utf-8")
            digest = _digest(code, None, body)
            digest["stderr"] = err.getvalue()
            answers[f"cli --format {fmt}"] = digest
    finally:
        os.chdir(cwd)
    return answers


def all_answers(app):
    answers = route_answers(app)
    answers.update(cli_answers())
    return answers


def test_demo_answers_are_byte_identical(tensorboard_app):
    with open(ANSWERS) as f:
        expected = json.load(f)
    actual = all_answers(tensorboard_app(LOGDIR))
    assert sorted(actual) == sorted(expected)
    changed = [key for key in expected if actual[key] != expected[key]]
    assert not changed, changed
    # The fixture is the demo: six example runs, each with findings or events.
    assert len([k for k in expected if k.startswith("lr?")]) >= 6


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    sys.path.insert(0, HERE)
    from conftest import InProcessTensorBoard

    result = all_answers(InProcessTensorBoard(LOGDIR))
    with open(ANSWERS, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(result)} answers to {ANSWERS}")


def test_both_readers_give_the_same_events_and_findings(tensorboard_app):
    from tb_lr_plugin import cli

    app = tensorboard_app(LOGDIR)
    app.reload()
    out = io.StringIO()
    assert cli.run([LOGDIR, "--format", "json"], stdout=out, stderr=io.StringIO()) == 0
    by_cli = {r["run"]: r for r in json.loads(out.getvalue())["runs"]}
    runs = json.loads(app.get("runs").data)["runs"]
    assert sorted(by_cli) == sorted(r["run"] for r in runs)
    for run in by_cli:
        events = json.loads(app.get("events", run=run).data)["events"]
        findings = json.loads(app.get("audit", run=run).data)["findings"]
        assert by_cli[run]["events"] == events, run
        assert by_cli[run]["findings"] == findings, run


def test_a_finder_next_to_keras_is_served_from_keras_everywhere(tensorboard_app):
    """A range test is no learning-rate plan: Keras's LR is the run's LR,
    for the events, the chart and the findings alike."""
    app = tensorboard_app(LOGDIR)
    app.reload()
    run = "8_keras_and_finder"
    (entry,) = [r for r in json.loads(app.get("runs").data)["runs"] if r["run"] == run]
    assert entry["source"] == "keras" and entry["finder"] == 1
    events = json.loads(app.get("events", run=run).data)["events"]
    assert [e["kind"] for e in events] == ["lr_change"] * 3
    assert all(e["source"] == "keras.callbacks.TensorBoard" for e in events)
    lr = json.loads(app.get("lr", run=run).data)
    assert [o["name"] for o in lr["optimizers"]] == ["learning_rate"]
    assert json.loads(app.get("finder", run=run).data)["tests"]
