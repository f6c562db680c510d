"""`tb-lr-audit` on torch runs, as on Keras runs."""

import io
import json

from torch_runs import STEPS_PER_EPOCH, ineffective_plateau, one_cycle
from torch_training import torch_framework  # noqa: F401

from tb_lr_plugin import cli


def _audit(logdir, *args):
    out, err = io.StringIO(), io.StringIO()
    status = cli.run([str(logdir), *args], out, err)
    return status, out.getvalue(), err.getvalue()


def test_the_audit_finds_the_ineffective_plateau(tmp_path):
    ineffective_plateau(tmp_path / "plateau")
    one_cycle(tmp_path / "onecycle")
    status, out, err = _audit(tmp_path, "--format", "json")
    assert status == 0, err
    runs = {r["run"]: r for r in json.loads(out)["runs"]}
    assert set(runs) == {"plateau", "onecycle"}
    plateau = runs["plateau"]
    reductions = [e for e in plateau["events"] if e["kind"] == "reduction"]
    # patience=2: torch reduces at the third bad epoch (num_bad_epochs 3 > 2),
    # then every third epoch: 0-based epochs 5, 8, 11, 14, 17.
    assert sorted({e["epoch"] for e in reductions}) == [5, 8, 11, 14, 17]
    assert {e["optimizer"] for e in reductions} == {"body", "head"}
    assert all(e["step"] == (e["epoch"] + 1) * STEPS_PER_EPOCH for e in reductions)
    assert all(e["framework"] == "torch" and e["wait"] == 3 for e in reductions)
    ineffective = [f for f in plateau["findings"] if f["kind"] == "reduction_ineffective"]
    # Judged over torch's window, patience + 1 = 3 epochs (the soonest torch
    # can cut again); the run ends (epoch 19) before the last one's closes.
    assert [f["epoch"] for f in ineffective] == [5, 8, 11, 14]
    assert all("within the next 3 epochs" in f["message"] for f in ineffective)
    assert all(f["severity"] == "warning" and "val_loss" in f["message"] for f in ineffective)
    assert not [f for f in runs["onecycle"]["findings"] if f["kind"].startswith("reduction")]


def test_the_table_lists_each_groups_reductions(tmp_path):
    ineffective_plateau(tmp_path / "plateau")
    status, out, _ = _audit(tmp_path)
    assert status == 0
    lines = out.splitlines()
    assert len([line for line in lines if " body " in line and "->" in line]) == 5
    assert len([line for line in lines if " head " in line and "->" in line]) == 5
    assert out.count("reduction_ineffective") == 4
    # torch's own rule and words: num_bad_epochs > patience, never "3/2".
    header = next(line for line in lines if line.split()[:2] == ["epoch", "step"])
    assert "num_bad_epochs" in header and "wait" not in header, header
    changes = [line for line in lines if " -> " in line and "steps" not in line]
    assert len(changes) == 10 and all(" 3 > 2 " in line for line in changes), changes
    assert not any("3/2" in line for line in changes)


def test_the_markdown_explains_torchs_rule(tmp_path):
    ineffective_plateau(tmp_path / "plateau")
    status, out, _ = _audit(tmp_path, "--format", "markdown")
    assert status == 0
    rows = [line for line in out.splitlines() if "| reduction |" in line]
    assert len(rows) == 10 and all("num_bad_epochs 3 &gt; patience 2" in r for r in rows), rows
