"""Logs other frameworks wrote, read by both readers (the CLI and the plugin).

The logs come from the real libraries (tests/framework_logs.py, one
process per framework); what each library said happened (the LR every
update used) is the truth the answers are checked against. Test ids name
the framework and its version.
"""

import csv
import io
import json
import os

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util

from tb_lr_plugin import cli


def _version(name):
    from importlib import metadata as importlib_metadata

    dist = {"tf_keras": "tf_keras", "summary_writer": "torch"}.get(name, name)
    return importlib_metadata.version(dist).split("+")[0]


FRAMEWORKS = [
    pytest.param(name, id=f"{label}-{_version(name)}")
    for name, label in (
        ("tf_keras", "tf_keras"),
        ("lightning", "lightning"),
        ("transformers", "transformers"),
        ("summary_writer", "torch-summary_writer"),
    )
]


def _cli(logdir, *args):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run([logdir, *args], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def _cli_runs(logdir, *args):
    return {r["run"]: r for r in json.loads(_cli(logdir, "--format", "json", *args))["runs"]}


def _expected_changes(truth, framework):
    """`[(step, epoch, old, new)]` of every LR change, from the library's own values."""
    out = []
    for run, info in truth["runs"].items():
        if framework == "tf_keras":
            lrs, per = info["epoch_lr"], info["steps_per_epoch"]
            for e in range(1, len(lrs)):
                if lrs[e] != lrs[e - 1]:
                    out.append((run, "lr", e * per, e - 1, lrs[e - 1], lrs[e]))
            continue
        groups = info.get("groups") or {None: info["lr"]}
        for name, lrs in groups.items():
            for i in range(1, len(lrs)):
                if lrs[i] != lrs[i - 1] and not _in_ramp(lrs, i):
                    per = info.get("steps_per_epoch")
                    epoch = (i - 1) // per if per else None
                    out.append((run, name, i, epoch, lrs[i - 1], lrs[i]))
    return sorted(out, key=lambda c: (c[0], c[2], str(c[1])))


def _in_ramp(lrs, i):
    """True when change `i` is one of 3 or more changes at consecutive
    updates: a schedule (a warmup, a decay), which is not listed as a decision."""
    changed = {j for j in range(1, len(lrs)) if lrs[j] != lrs[j - 1]}
    lo = hi = i
    while lo - 1 in changed:
        lo -= 1
    while hi + 1 in changed:
        hi += 1
    return hi - lo + 1 >= 3


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cli_lists_every_lr_change_at_its_step_and_epoch(framework_logs, framework):
    logdir, truths = framework_logs
    runs = _cli_runs(logdir)
    got = []
    for name, entry in runs.items():
        top, _, run = name.partition("/")
        if top != framework:
            continue
        assert entry["source"] != "logger" and entry["limits"], name
        for e in entry["events"]:
            assert e["kind"] == "lr_change"
            got.append((run, e["optimizer"], e["step"], e["epoch"], e["old_lr"], e["new_lr"]))
    got.sort(key=lambda c: (c[0], c[2], str(c[1])))
    listed = {n.partition("/")[2] for n in runs if n.startswith(framework + "/")}
    # `custom` needs --lr-tag (test_a_custom_tag_works_with_lr_tag).
    assert listed == set(truths[framework]["runs"]) - {"custom"}
    want = [c for c in _expected_changes(truths[framework], framework) if c[0] in listed]
    assert want, "the training changed no LR: the test would prove nothing"
    assert [c[0] for c in got] == [c[0] for c in want]
    for g, w in zip(got, want, strict=True):
        assert g[2:4] == w[2:4], (g, w)
        # The logged value is the float32 of the library's.
        assert np.float32(g[4]) == np.float32(w[4]) and np.float32(g[5]) == np.float32(w[5])
        if w[1] is not None:
            assert g[1] == w[1]


def _logged(directory, tag):
    """`[(step, value)]` of a scalar tag, read straight from the event files."""
    out = []
    for name in sorted(os.listdir(directory)):
        if "tfevents" not in name:
            continue
        for event in event_file_loader.EventFileLoader(os.path.join(directory, name)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    out.append((event.step, float(tensor_util.make_ndarray(value.tensor))))
    return out


# (run, series, folder, tag): the LR scalars each export must equal.
_LOGGED_LR = {
    "tf_keras": [("plateau", "lr", "plateau/train", "epoch_lr")],
    "lightning": [
        ("lightning_logs/version_0", "Adam/pg1", "lightning_logs/version_0", "lr-Adam/pg1"),
        ("lightning_logs/version_0", "Adam/pg2", "lightning_logs/version_0", "lr-Adam/pg2"),
        ("lightning_logs/version_1", "SGD", "lightning_logs/version_1", "lr-SGD"),
    ],
    "transformers": [("plateau", "learning_rate", "plateau", "train/learning_rate")],
    "summary_writer": [("plain", "train/lr", "plain", "train/lr")],
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_export_equals_the_logged_scalars(framework_logs, framework, tensorboard_app):
    logdir, _ = framework_logs
    app = tensorboard_app(logdir)
    app.reload()
    rows = list(csv.reader(io.StringIO(_cli(logdir, "--format", "csv"))))
    assert rows[0] == ["run", "optimizer", "step", "planned", "actual"]
    for run, series, folder, tag in _LOGGED_LR[framework]:
        logged = _logged(os.path.join(logdir, framework, folder), tag)
        name = f"{framework}/{run}"
        body = json.loads(app.get("export", run=name, format="json").data)
        actual = body["optimizers"][series]["actual"]
        assert actual == [v for _, v in logged]
        assert [r[4] for r in rows[1:] if r[0] == name and r[1] == series] == [
            repr(v) for _, v in logged
        ]
        steps = body["optimizers"][series]["step"]
        if framework == "lightning":  # global_step: updates done before this one
            assert steps == [s + 1 for s, _ in logged]
        elif framework != "tf_keras":
            assert steps == [s for s, _ in logged]
        else:  # the epoch's first update
            assert steps == [1 + 3 * e for e, _ in logged]


def test_lightning_momentum_and_weight_decay_are_in_the_export(framework_logs, tensorboard_app):
    logdir, _ = framework_logs
    app = tensorboard_app(logdir)
    app.reload()
    body = json.loads(
        app.get("export", run="lightning/lightning_logs/version_1", format="json").data
    )
    hyper = body["hyperparameters"]["SGD"]
    folder = os.path.join(logdir, "lightning", "lightning_logs", "version_1")
    assert hyper["momentum"]["value"] == [v for _, v in _logged(folder, "lr-SGD-momentum")]
    assert hyper["weight_decay"]["value"] == [v for _, v in _logged(folder, "lr-SGD-weight_decay")]
    lr = json.loads(app.get("lr", run="lightning/lightning_logs/version_0").data)
    assert sorted(lr["hyperparameters"]) == ["Adam/pg1", "Adam/pg2"]
    assert sorted(lr["hyperparameters"]["Adam/pg1"]) == ["momentum", "weight_decay"]


_INEFFECTIVE = {
    "tf_keras": "plateau",
    "lightning": "lightning_logs/version_0",
    "transformers": "plateau",
}


@pytest.mark.parametrize("framework", [p for p in FRAMEWORKS if p.values[0] in _INEFFECTIVE])
def test_audit_finds_the_ineffective_reduction(framework_logs, framework):
    logdir, _ = framework_logs
    run = f"{framework}/{_INEFFECTIVE[framework]}"
    entry = _cli_runs(logdir, "--run", run)[run]
    kinds = [f["kind"] for f in entry["findings"]]
    assert "reduction_ineffective" in kinds, entry["findings"]
    first = entry["events"][0]
    finding = next(f for f in entry["findings"] if f["kind"] == "reduction_ineffective")
    assert (finding["step"], finding["epoch"]) in {(e["step"], e["epoch"]) for e in entry["events"]}
    assert first["step"] <= finding["step"]


def test_plain_summary_writer_works_with_the_default_patterns(framework_logs):
    logdir, _ = framework_logs
    runs = _cli_runs(logdir)
    assert runs["summary_writer/plain"]["source"] == "scalars"
    assert "summary_writer/custom" not in runs  # my_lr_xyz is no common name


def test_a_custom_tag_works_with_lr_tag(framework_logs, tensorboard_app):
    logdir, _ = framework_logs
    runs = _cli_runs(logdir, "--lr-tag", "^my_lr_xyz$", "--loss-tag", "^my_loss_xyz$")
    entry = runs["summary_writer/custom"]
    assert [(e["step"], e["old_lr"], e["new_lr"]) for e in entry["events"]] == [
        (40, np.float32(0.05).item(), np.float32(0.025).item()),
        (70, np.float32(0.025).item(), np.float32(0.0125).item()),
    ]
    app = tensorboard_app(logdir, lr_tag="^my_lr_xyz$", loss_tag="^my_loss_xyz$")
    app.reload()
    events = json.loads(app.get("events", run="summary_writer/custom").data)["events"]
    assert events == entry["events"]
    loss = json.loads(app.get("loss", run="summary_writer/custom").data)
    assert [s["name"] for s in loss["series"]] == ["batch_loss"]


def test_a_bad_lr_tag_is_a_usage_error(framework_logs):
    logdir, _ = framework_logs
    err = io.StringIO()
    assert cli.run([logdir, "--lr-tag", "("], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().count("\n") == 1 and "--lr-tag" in err.getvalue()


def test_plugin_and_cli_answer_the_same_on_every_source(framework_logs, tensorboard_app):
    logdir, _ = framework_logs
    app = tensorboard_app(logdir)
    app.reload()
    by_cli = _cli_runs(logdir)
    listed = json.loads(app.get("runs").data)["runs"]
    assert sorted(by_cli) == sorted(r["run"] for r in listed)
    sources = {r["source"] for r in listed}
    assert sources == {"keras2", "lightning", "huggingface", "scalars"}
    for entry in listed:
        run = entry["run"]
        assert entry["source"] == by_cli[run]["source"]
        assert entry["limits"] == by_cli[run]["limits"]
        assert json.loads(app.get("events", run=run).data)["events"] == by_cli[run]["events"]
        assert json.loads(app.get("audit", run=run).data)["findings"] == by_cli[run]["findings"]


def test_the_tab_says_how_many_steps_tensorboard_kept(logdir, tensorboard_app):
    from conftest import write_scalars

    steps = range(1, 3001)
    write_scalars(logdir / "long", {"train/lr": [(s, 0.1 if s <= 2000 else 0.05) for s in steps]})
    default = tensorboard_app(logdir)
    default.reload()
    lr = json.loads(default.get("lr", run="long").data)
    assert lr["sampled"] == [{"name": "train/lr", "shown": 1000, "steps": 3000}]
    every = tensorboard_app(logdir, samples_per_plugin="scalars=0")
    every.reload()
    lr = json.loads(every.get("lr", run="long").data)
    assert lr["sampled"] == [] and lr["points"] == 3000
    rows = _cli(str(logdir), "--format", "csv").splitlines()[1:]
    assert len(rows) == 3000  # the CLI reads every record
    (change,) = _cli_runs(str(logdir))["long"]["events"]
    assert (change["step"], change["old_lr"]) == (2000, np.float32(0.1).item())
