"""The batched `view` route, inside the real TensorBoard WSGI app (Python loader).

`view?run=A&run=B` must answer, per run, exactly what the run's own routes
answer (the tab draws from either), fewer points when asked, new data as
soon as the run's own routes show it, and the routes' JSON errors.
"""

import json

import pytest
from conftest import InProcessTensorBoard, write_run, write_scalars

from tb_lr_plugin import view

PARTS = ("lr", "loss", "events", "audit", "finder")


def body(response):
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return json.loads(response.data)


def get_view(tb, *runs, **query):
    """GETs `view` with `run` repeated (and each other parameter as given)."""
    params = [("run", r) for r in runs]
    for key, value in query.items():
        params += [(key, v) for v in (value if isinstance(value, list) else [value])]
    return tb.client.get("/data/plugin/learning_rate/view", query_string=params)


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("view")
    write_run(logdir / "run_b", steps=6000, epochs=60, reductions=(10, 25, 40))
    write_run(logdir / "run_a", steps=900, epochs=9, reductions=(3,), optimizers=("g", "d"))
    write_run(logdir / '<b>&amp;"x"', steps=300, epochs=3, reductions=(1,))
    write_scalars(
        logdir / "konly" / "train",
        {"epoch_learning_rate": [(0, 0.1), (1, 0.1), (2, 0.05)], "epoch_loss": [(0, 1), (1, 0.5)]},
    )
    return InProcessTensorBoard(logdir)


RUNS = ("run_b", "run_a", '<b>&amp;"x"', "konly")


def test_each_part_is_the_runs_own_route_answer_in_the_order_asked(tb):
    response = get_view(tb, *RUNS, part=list(PARTS))
    assert response.status_code == 200
    got = body(response)["runs"]
    assert [item["run"] for item in got] == list(RUNS)
    for item in got:
        assert set(item) == {"run", *PARTS}
        for part in PARTS:
            own = tb.get(part, run=item["run"])
            assert own.status_code == 200
            assert item[part] == body(own), (item["run"], part)
    # Names stay text: no raw markup in the answer.
    assert b"<" not in response.data


def test_the_first_draw_parts_by_default(tb):
    got = body(get_view(tb, "run_a"))["runs"]
    assert [set(item) for item in got] == [{"run", "lr", "loss", "events"}]


def test_fewer_points_keep_every_change_and_event(tb):
    full = body(get_view(tb, "run_b"))["runs"][0]
    few = body(get_view(tb, "run_b", points="100"))["runs"][0]
    assert len(full["lr"]["optimizers"][0]["step"]) > 100 >= len(few["lr"]["optimizers"][0]["step"])
    assert few["lr"]["downsampled"] is True and few["lr"]["points"] == full["lr"]["points"]
    loss = [s for s in few["loss"]["series"] if s["resolution"] == "step"]
    assert loss and all(len(s["step"]) <= 100 for s in loss)
    # Every reduction's step and the row before it are kept, so each drop is drawn as a step.
    steps = set(few["lr"]["optimizers"][0]["step"])
    for e in full["events"]["events"]:
        if e["kind"] == "reduction":
            assert {e["step"], e["step"] + 1} <= steps or {e["step"] - 1, e["step"]} <= steps
    assert few["events"] == full["events"]


def test_new_data_shows_at_once(tmp_path):
    writer_spec = write_run(tmp_path / "live", steps=200, epochs=2, reductions=(), close=False)
    tb = InProcessTensorBoard(tmp_path)
    first = body(get_view(tb, "live"))["runs"][0]
    assert first["lr"]["optimizers"][0]["step"][-1] == 200
    write_run(
        tmp_path / "live",
        steps=200,
        epochs=2,
        reductions=(),
        start_step=201,
        start_epoch=2,
        writer=writer_spec[1],
    )
    tb.reload()
    again = body(get_view(tb, "live"))["runs"][0]
    assert again["lr"]["optimizers"][0]["step"][-1] == 400
    assert again["lr"] == body(tb.get("lr", run="live"))


def assert_json_error(response, status):
    assert response.status_code == status, response.data
    data = body(response)
    assert set(data) == {"error"} and isinstance(data["error"], str)
    assert "Traceback" not in data["error"]
    return data["error"]


@pytest.mark.parametrize(
    "runs, query, status, says",
    [
        (("run_a", "nope"), {}, 404, "nope"),
        (("../../etc/passwd",), {}, 404, "passwd"),
        ((), {}, 400, "Missing query parameter 'run'"),
        (("",), {}, 400, "Missing query parameter 'run'"),
        (("run_a", "run_a"), {}, 400, "twice"),
        (("run_a",), {"part": "export"}, 400, "part"),
        (("run_a",), {"part": ["lr", "lr"]}, 400, "part"),
        (("run_a",), {"points": "5"}, 400, "out of range"),
        (("run_a",), {"points": "1e3"}, 400, "whole number"),
        (("run_a",), {"points": ["100", "200"]}, 400, "whole number"),
        (("run_a",), {"format": "csv"}, 400, "Unknown query parameter 'format'"),
        (tuple(f"r{i}" for i in range(view.MAX_RUNS + 1)), {}, 400, "at most"),
    ],
)
def test_bad_requests_are_json_errors(tb, runs, query, status, says):
    assert says in assert_json_error(get_view(tb, *runs, **query), status)


def test_post_is_refused_as_json(tb):
    response = tb.client.post("/data/plugin/learning_rate/view?run=run_a")
    assert_json_error(response, 405)


def test_answers_are_kept_per_version_and_bounded(tb):
    plugin = next(p for p in tb.app._plugins if p.plugin_name == "learning_rate")
    views = plugin._views
    get_view(tb, *RUNS, part=list(PARTS))
    kept = len(views._texts)
    full = {(k[1], k[2]) for k in views._texts if k[3] in (None, view.downsample.DEFAULT_BUDGET)}
    assert full == {(r, p) for r in RUNS for p in PARTS}
    # Asked again: the kept answers, not a new read.
    reads = []
    original = plugin._reader.read
    plugin._reader.read = lambda *a: reads.append(a) or original(*a)
    try:
        get_view(tb, *RUNS, part=list(PARTS))
    finally:
        plugin._reader.read = original
    assert reads == [] and len(views._texts) == kept
    small = view.Views(plugin._reader, max_bytes=1)
    from tensorboard import context

    small.answer(context.RequestContext(), "", list(RUNS))
    assert len(small._texts) == 1


def test_first_runs_with_the_listing_in_one_answer(tb):
    got = body(get_view(tb, first="2", listing="1"))
    assert got["listing"] == body(tb.get("runs"))["runs"]
    names = [entry["run"] for entry in got["listing"]]
    assert [item["run"] for item in got["runs"]] == names[:2]
    assert got["runs"] == body(get_view(tb, *names[:2]))["runs"]
    # More than there are: all of them.
    assert len(body(get_view(tb, first="100"))["runs"]) == len(names)
    assert "listing" not in body(get_view(tb, "run_a"))
    assert body(get_view(tb, "run_a", listing="1"))["listing"] == got["listing"]


@pytest.mark.parametrize(
    "query, says",
    [
        ({"first": "0"}, "out of range"),
        ({"first": str(view.MAX_RUNS + 1)}, "out of range"),
        ({"first": "2", "run": "run_a"}, "not both"),
        ({"first": ["1", "2"]}, "whole number"),
        ({"first": "1", "listing": "yes"}, "whole number"),
        ({"first": "1", "listing": "2"}, "out of range"),
    ],
)
def test_bad_first_and_listing_are_json_errors(tb, query, says):
    assert says in assert_json_error(get_view(tb, **query), 400)


def test_a_cold_view_with_the_listing_reads_each_run_once(tmp_path):
    for name in ("a", "b", "c"):
        write_run(tmp_path / name, steps=300, epochs=3, reductions=(1,))
    tb = InProcessTensorBoard(tmp_path)
    reads = []
    data_provider = tb.ingester.data_provider
    original = data_provider.read_tensors
    data_provider.read_tensors = lambda ctx, **kw: (
        reads.append(sorted(kw["run_tag_filter"].runs)) or original(ctx, **kw)
    )
    got = body(get_view(tb, first="2", listing="1"))
    assert [item["run"] for item in got["runs"]] == ["a", "b"]
    # One read of the three runs, for the listing; the view's two from it.
    assert reads == [["a", "b", "c"]]
    assert got["runs"][1]["lr"] == body(tb.get("lr", run="b"))


def test_an_answer_is_compressed_once_and_sent_as_kept(tb):
    """Gzipped once per entity tag; a client without gzip gets the same JSON."""
    import gzip

    plugin = next(p for p in tb.app._plugins if p.plugin_name == "learning_rate")
    built = []
    original = plugin.view_impl
    plugin.view_impl = lambda *a, **k: built.append(a) or original(*a, **k)
    try:
        zipped = [
            tb.client.get(
                "/data/plugin/learning_rate/view",
                query_string=[("run", "run_a"), ("part", "lr")],
                headers={"Accept-Encoding": "gzip"},
            )
            for _ in range(2)
        ]
        plain = get_view(tb, "run_a", part="lr")
    finally:
        plugin.view_impl = original
    assert len(built) == 1
    assert [z.headers.get("Content-Encoding") for z in zipped] == ["gzip", "gzip"]
    assert zipped[0].data == zipped[1].data
    assert zipped[0].headers["ETag"] == zipped[1].headers["ETag"] == plain.headers["ETag"]
    assert "Content-Encoding" not in plain.headers
    assert json.loads(gzip.decompress(zipped[0].data)) == body(plain)
    assert body(plain)["runs"][0]["lr"] == body(tb.get("lr", run="run_a"))
