"""Many runs: the `runs` listing reads each run once per version of its data.

With 500 runs, reading every run at every `runs` request took 22 s a request
under the Rust loader (the snapshot cache holds 8 runs). The listing now
keeps each run's entry per version and reads the runs that changed, many
per provider call; a run being looked at is read once per version, not
once for the listing and again for its `lr`. The browser side (500 runs in
the tab) is tests/browser/test_hardening.py.
"""

import json

from conftest import InProcessTensorBoard, write_run

RUNS = 40


def _counting(tb):
    calls = []
    provider = tb.ingester.data_provider
    read = provider.read_tensors

    def counted(ctx, **kwargs):
        calls.append(sorted(kwargs["run_tag_filter"].runs))
        return read(ctx, **kwargs)

    provider.read_tensors = counted
    return calls


def test_runs_are_read_once_per_version_many_per_call(logdir):
    writers = {}
    for i in range(RUNS):
        _, writers[i] = write_run(logdir / f"run{i:02d}", steps=20, epochs=2, close=False)
    tb = InProcessTensorBoard(logdir)
    calls = _counting(tb)

    runs = json.loads(tb.get("runs").data)["runs"]
    assert len(runs) == RUNS
    assert len(calls) == 2 and sum(map(len, calls)) == RUNS  # 32 runs a call
    calls.clear()
    assert json.loads(tb.get("runs").data)["runs"] == runs
    assert calls == []  # nothing changed: nothing read

    assert tb.get("lr", run="run07").status_code == 200
    assert calls == [["run07"]]
    calls.clear()
    # Run 7 trains on: the listing reads it alone, and `lr` reuses that read.
    write_run(logdir / "run07", steps=20, epochs=2, start_step=21, start_epoch=2, writer=writers[7])
    tb.reload()
    runs = {r["run"]: r for r in json.loads(tb.get("runs").data)["runs"]}
    assert runs["run07"]["steps"] == 40 and runs["run08"]["steps"] == 20
    assert calls == [["run07"]]
    assert json.loads(tb.get("lr", run="run07").data)["points"] == 40
    assert calls == [["run07"]]
    for writer in writers.values():
        writer.close()
