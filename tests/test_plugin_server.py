"""The plugin in a real `tensorboard` process, under both loaders.

One `tensorboard --logdir L --host 127.0.0.1 --port 0` per loader
(`--load_fast=false`: Python; `--load_fast=true`: the Rust data server),
with no `--samples_per_plugin`: what a user gets by default.
"""

import http.client
import json
import threading
import time
import urllib.parse

import numpy as np
import pytest
from conftest import TensorBoardProcess, write_corrupt_run, write_run

HOSTILE = ["<img src=x onerror=alert(1)>", 'it\'s "quoted"', "ünï/学习率 🚀", "a, b & c?#"]
LONG_REDUCTIONS = (8, 19, 30, 41, 52)


@pytest.fixture(scope="module", params=["false", "true"], ids=["python", "rust"])
def loader(request):
    """The `--load_fast` value: the Python loader, then the Rust one."""
    return request.param


@pytest.fixture(scope="module")
def server(loader, tmp_path_factory):
    """Yields `(tb, logdir, long_spec)`; one server per loader."""
    logdir = tmp_path_factory.mktemp("served")
    # 6000 steps, 60 epochs, 3 flushes an epoch: 180 records per `lr` tag,
    # more than either loader keeps of an unknown plugin's tag by default.
    spec, _ = write_run(
        logdir / "long",
        steps=6000,
        epochs=60,
        optimizers=("adam", "aux"),
        reductions=LONG_REDUCTIONS,
        flushes_per_epoch=3,
    )
    for name in HOSTILE:
        write_run(logdir / name, steps=40, epochs=2, reductions=(0,))
    write_corrupt_run(logdir / "bad")
    tb = TensorBoardProcess(logdir, f"--load_fast={loader}", "--reload_interval", "1")
    try:
        wait_for(lambda: {"long", "bad/cut", *HOSTILE} <= run_names(tb), "runs loaded", tb)
        # Loaders commit what they read in batches: wait for all of it.
        wait_for(lambda: long_points(tb) == 12000, "the long run loaded", tb)
        yield tb, logdir, spec
    finally:
        tb.stop()


def run_names(tb):
    status, _, data = tb.get("runs")
    return {r["run"] for r in json.loads(data)["runs"]} if status == 200 else set()


def long_points(tb):
    status, _, data = tb.get("lr", run="long")
    return json.loads(data)["points"] if status == 200 else -1


def wait_for(predicate, what, tb, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}:\n" + "".join(tb.log[-30:]))


def get_json(tb, route, **query):
    status, headers, data = tb.get(route, **query)
    assert headers["Content-Type"].startswith("application/json"), (status, headers)
    return status, json.loads(data)


def test_tab_is_listed(server):
    tb, _, _ = server
    status, _, data = tb.get("/data/plugins_listing")
    entry = json.loads(data)["learning_rate"]
    assert entry["enabled"] is True and entry["tab_name"] == "Learning Rate"
    status, headers, data = tb.get("index.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"render" in data


def test_export_is_lossless_at_default_settings(server):
    tb, _, spec = server
    status, headers, data = tb.get("export", run="long", format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    lines = data.decode().splitlines()
    assert lines[0] == "run,optimizer,step,planned,actual"
    assert len(lines) == 1 + 12000
    for name, rows in spec.lr.items():
        got = np.array(
            [[float(x) for x in ln.split(",")[2:]] for ln in lines[1:] if ln.split(",")[1] == name]
        )
        assert np.array_equal(got, rows), name
    status, export = get_json(tb, "export", run="long")
    assert export["optimizers"]["adam"]["actual"] == spec.lr["adam"][:, 2].tolist()
    assert export["events"] == spec.events
    status, events = get_json(tb, "events", run="long")
    assert events["events"] == spec.events
    assert len([e for e in spec.events if e["kind"] == "reduction"]) == len(LONG_REDUCTIONS)
    status, lr = get_json(tb, "lr", run="long")
    assert lr["points"] == 12000 and lr["downsampled"] is True
    assert lr["epochs"]["epoch"] == list(range(60))


def test_hostile_run_names_round_trip(server):
    tb, _, _ = server
    assert set(HOSTILE) <= run_names(tb)
    for name in HOSTILE:
        for route in ("lr", "events", "loss", "audit", "export"):
            status, data = get_json(tb, route, run=name)
            assert status == 200, (name, route, data)
        assert get_json(tb, "lr", run=name)[1]["run"] == name
        status, data = get_json(tb, "lr", run=name + "/nope")
        assert status == 404 and repr(name + "/nope") in data["error"]


def test_bad_input_is_json_and_never_a_stack_trace(server):
    tb, _, _ = server
    cases = [
        ("lr", {"run": "missing"}, 404),
        ("export", {"run": "missing", "format": "csv"}, 404),
        ("lr", {}, 400),
        ("loss", {"run": "long", "extra": "1"}, 400),
        ("export", {"run": "long", "format": "pdf"}, 400),
    ]
    for route, query, code in cases:
        status, data = get_json(tb, route, **query)
        assert status == code and set(data) == {"error"}
        assert "Traceback" not in data["error"]
    status, data = get_json(tb, "lr?run=long&run=long")
    assert status == 400


def raw_get(tb, path):
    """GET with the path sent byte for byte (no client-side normalising)."""
    host, port = urllib.parse.urlsplit(tb.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "static/../plugin.py",
        "static/..%2fplugin.py",
        "static/%2e%2e/plugin.py",
        "static/%2e%2e%2f%2e%2e%2fsetup.py",
        "static/..\\plugin.py",
        "static/%5c..%5cplugin.py",
        "static//etc/passwd",
        "static/../../../../etc/passwd",
    ],
)
def test_static_traversal_never_leaves_the_folder(server, path):
    tb, _, _ = server
    status, data = raw_get(tb, "/data/plugin/learning_rate/" + path)
    assert status != 200 or (b"LearningRateLoader" not in data and b"root:" not in data)
    assert b"LearningRateLoader" not in data and b"root:" not in data


def test_a_corrupt_run_does_not_break_the_others(server):
    tb, _, spec = server
    for route in ("lr", "events", "loss", "audit", "export"):
        status, _, _ = tb.get(route, run="bad/cut")
        assert status == 200
    status, data = get_json(tb, "events", run="long")
    assert data["events"] == spec.events


def test_live_training_shows_up_within_the_reload_interval(server):
    tb, logdir, _ = server
    _, writer = write_run(logdir / "live", steps=100, epochs=2, reductions=(), close=False)
    wait_for(lambda: "live" in run_names(tb), "the live run", tb, timeout=30)
    wait_for(lambda: get_json(tb, "lr", run="live")[1]["points"] == 100, "first epochs", tb)
    start = time.time()
    write_run(
        logdir / "live",
        steps=50,
        epochs=1,
        reductions=(0,),
        start_step=101,
        start_epoch=2,
        writer=writer,
    )
    wait_for(lambda: get_json(tb, "lr", run="live")[1]["points"] == 150, "new points", tb)
    events = get_json(tb, "events", run="live")[1]["events"]
    assert [e["step"] for e in events] == [150, 150]
    assert time.time() - start < 10
    lines = tb.get("export", run="live", format="csv")[2].decode().splitlines()
    assert len(lines) == 151


def hammer(tb, logdir, threads, requests_per_thread):
    """`threads` clients over all routes while a writer appends; returns statuses."""
    stop = threading.Event()
    _, writer = write_run(logdir / "hammered", steps=50, epochs=1, reductions=(), close=False)

    def train():
        step, epoch = 51, 1
        while not stop.is_set():
            write_run(
                logdir / "hammered",
                steps=50,
                epochs=1,
                reductions=(0,) if epoch % 3 == 0 else (),
                start_step=step,
                start_epoch=epoch,
                writer=writer,
                close=False,
            )
            step, epoch = step + 50, epoch + 1
            time.sleep(0.05)

    routes = [
        ("runs", {}),
        ("lr", {"run": "long"}),
        ("lr", {"run": "hammered"}),
        ("events", {"run": "hammered"}),
        ("loss", {"run": "long"}),
        ("loss", {"run": "hammered"}),
        ("audit", {"run": "long"}),
        ("export", {"run": "hammered", "format": "csv"}),
        ("export", {"run": HOSTILE[0]}),
        ("lr", {"run": "no such run"}),
        ("index.js", {}),
    ]
    statuses = []
    lock = threading.Lock()

    def client(k):
        for i in range(requests_per_thread):
            route, query = routes[(k + i) % len(routes)]
            if query.get("run") == "hammered" and "hammered" not in run_names(tb):
                route, query = "runs", {}
            status, _, _ = tb.get(route, timeout=60, **query)
            with lock:
                statuses.append(status)

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        stop.set()
        trainer.join()
        writer.close()
    return statuses


def test_concurrent_clients_while_training(server):
    tb, logdir, _ = server
    per_thread = 200
    statuses = hammer(tb, logdir, threads=8, requests_per_thread=per_thread)
    assert len(statuses) == 8 * per_thread
    assert all(s < 500 for s in statuses), sorted(set(statuses))
    assert set(statuses) <= {200, 404}


def conditional_get(tb, route, etag=None, **query):
    """GETs a route with `If-None-Match: etag` (when given): (status, headers, body)."""
    import urllib.error
    import urllib.request

    url = f"{tb.url}/data/plugin/learning_rate/{route}?{urllib.parse.urlencode(query, doseq=True)}"
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_answers_are_not_sent_again_while_the_run_is_unchanged(server):
    """Each answer carries an ETag of the versions it shows: asked again with
    it, the route says 304 and sends nothing until a new record arrives."""
    tb, logdir, _ = server
    _, writer = write_run(logdir / "tagged", steps=40, epochs=2, reductions=(), close=False)
    wait_for(lambda: "tagged" in run_names(tb), "the tagged run", tb, timeout=30)
    wait_for(lambda: get_json(tb, "lr", run="tagged")[1]["points"] == 40, "its points", tb)
    routes = [
        ("lr", {"run": "tagged"}),
        ("events", {"run": "tagged"}),
        ("view", {"run": ["tagged", "long"], "part": ["lr", "loss"]}),
        ("view", {"first": "2", "listing": "1"}),
        ("runs", {}),
    ]
    first = {}
    for route, query in routes:
        status, headers, body = conditional_get(tb, route, **query)
        assert status == 200 and headers["ETag"].startswith('"'), (route, status, headers)
        again = conditional_get(tb, route, headers["ETag"], **query)
        assert (again[0], again[2], again[1]["ETag"]) == (304, b"", headers["ETag"]), route
        assert conditional_get(tb, route, '"other"', **query)[2] == body, route
        first[route, json.dumps(query)] = headers["ETag"], body
    # Two more epochs, with a reduction: every route's answer changes.
    grown = {"steps": 20, "epochs": 1, "reductions": (0,), "start_step": 41, "start_epoch": 2}
    write_run(logdir / "tagged", writer=writer, **grown)
    writer.close()
    wait_for(lambda: get_json(tb, "lr", run="tagged")[1]["points"] == 60, "new points", tb)
    # Every answer shows the grown run (the listing too: its step count).
    for route, query in routes:
        etag, body = first[route, json.dumps(query)]
        status, headers, new_body = conditional_get(tb, route, etag, **query)
        assert status == 200 and headers["ETag"] != etag and new_body != body, route
