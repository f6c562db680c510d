"""Route fuzzing: 2,000 seeded random requests against every route of the plugin.

The real TensorBoard WSGI app (in process, Python loader) serves a logdir
of a few runs, some with hostile names. Requests are built as a WSGI server
hands them over (PATH_INFO percent-decoded, QUERY_STRING raw), from pieces
that have broken web apps before: missing, empty, repeated and unknown
parameters; huge values; unicode, invalid UTF-8 and NUL bytes; broken and
double percent-encoding; and path traversal in both the query
(`run=../../etc/passwd`) and the static route's path (`static/../..`,
`%2e%2e`, backslashes, drive letters, a symlink out of the folder).

Every answer must be 200, 400 or 404; JSON (a JSON `{"error"}` whenever it
is not 200), except a static file, `index.js` or a CSV export answered
200; and JSON bodies never hold a raw `<`. An audit hook sees every file
the process opens while the requests are served: each must be inside the
logdir, the static folder, or Python's own installation (lazy imports).
Afterwards the server answers exactly as it did before the fuzzing.

A shorter pass (300 requests) goes over the wire to a real `tensorboard`
process with its default (Rust) loader, URLs encoded as a browser encodes
them, and checks the same rules and the same health afterwards.

`TB_LR_FUZZ_SEED` and `TB_LR_FUZZ_REQUESTS` change the seed and the count.
"""

import http.client
import json
import os
import random
import site
import sys
import time
import urllib.parse

import pytest
from conftest import InProcessTensorBoard, TensorBoardProcess, write_run, write_scalars
from werkzeug.test import EnvironBuilder, run_wsgi_app

import tb_lr_plugin
from tb_lr_plugin import plugin as lr_plugin

SEED = int(os.environ.get("TB_LR_FUZZ_SEED", "20240607"))
REQUESTS = int(os.environ.get("TB_LR_FUZZ_REQUESTS", "2000"))
WIRE_REQUESTS = 300
TIME_LIMIT = 90  # seconds, for the whole batch of requests
PREFIX = "/data/plugin/learning_rate/"
DATA_ROUTES = ("runs", "lr", "events", "loss", "audit", "export", "finder", "view")
RUNS = ("plain", "<img src=x onerror=alert(1)>", "q\"uo'te & <b>", "ünï/学习率", "konly")

# -- the audit hook --------------------------------------------------------------------------

_AUDIT = {"on": False, "paths": []}
_PATH_EVENTS = {"open", "os.listdir", "os.scandir", "shutil.copyfile", "os.chdir"}


def _audit_hook(event, args):
    # At interpreter exit module globals are already None: stay quiet.
    if _AUDIT is None or _PATH_EVENTS is None:
        return
    if _AUDIT["on"] and event in _PATH_EVENTS and args:
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)):
            _AUDIT["paths"].append(os.fsdecode(path))


if not getattr(sys, "_tb_lr_fuzz_hook", False):
    # Audit hooks cannot be removed: install one, once, that does nothing
    # unless a test turns it on.
    sys.addaudithook(_audit_hook)
    sys._tb_lr_fuzz_hook = True


def _inside(path, roots):
    real = os.path.realpath(path)
    return any(os.path.commonpath([real, root]) == root for root in roots)


# -- the request generator ----------------------------------------------------------------

TRAVERSAL = [
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "....//....//etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "..\\..\\windows\\win.ini",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "\\\\server\\share",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "plain/../../../../etc/passwd",
    "plain%00.txt",
    "./plain",
    "plain/",
    "/plain",
    ".",
    "..",
    "~",
    "~root/.ssh/id_rsa",
    "$HOME",
    "%SystemRoot%",
    "secret.txt",
    "../secret.txt",
]
ODD = [
    "",
    " ",
    "+",
    "%",
    "%%",
    "%zz",
    "%0",
    "%00",
    "\x00",
    "a\x00b",
    "%ff%fe",
    "%ed%a0%80",  # a UTF-16 surrogate, as UTF-8
    "\u202eevil",
    "𝓊𝓃𝒾𝒸ℴ𝒹ℯ 🚀",
    "ü",
    "u\u0308",  # ü decomposed: not the run named ü
    "null",
    "undefined",
    "[]",
    "{}",
    '{"run": "plain"}',
    "'; DROP TABLE runs; --",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "\r\nSet-Cookie: x=1",
    "%0d%0aX-Injected: 1",
    "run=plain",
    "&",
    "=",
    "#frag",
    "?",
    "csv",
    "json",
    "CSV",
    "xml",
    "lr",
    "audit",
    "finder",
    "100",
    "2000",
    "-1",
    "1e3",
    "99999999999999999999",
]
KEYS = (
    ["run"] * 6
    + ["format"] * 3
    + ["part", "points", "first", "listing"]
    + [
        "",
        "x",
        "RUN",
        "run[]",
        "run.",
        " run",
        "run ",
        "format[]",
        "experiment",
        "tag",
        "callback",
        "%72un",  # "run", percent-encoded
        "r%00un",
        "ran\u0303",
        "🙂",
    ]
)
STATIC_SUFFIXES = [
    "index.js",
    "app.css",
    "chunks/view.js",
    "link.txt",
    "chunks/../index.js",
    "chunks/./view.js",
    "chunks//view.js",
    "nope.js",
    "",
    "/",
    "//etc/passwd",
    "chunks\\view.js",
    "index.js%00.png",
    "index.js/",
    "C:index.js",
] + TRAVERSAL


def _huge(rng):
    return rng.choice("aZ.%/<&ü\x00") * rng.choice([1_000, 10_000, 100_000])


def _random_text(rng):
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(RUNS)
    if kind < 0.55:
        return rng.choice(TRAVERSAL)
    if kind < 0.85:
        return rng.choice(ODD)
    if kind < 0.90:
        return _huge(rng)
    n = rng.randint(1, 40)
    # Any code point but surrogates, which no client can send as UTF-8.
    points = [rng.choice([rng.randint(1, 0x7F), rng.randint(0x80, 0xD7FF)]) for _ in range(n)]
    return "".join(map(chr, points))


def _encode(rng, text):
    """As a client might put `text` in a URL: raw, encoded, double or partly encoded."""
    mode = rng.random()
    if mode < 0.4:
        return urllib.parse.quote(text, safe="")
    if mode < 0.55:
        return urllib.parse.quote_plus(text)
    if mode < 0.65:
        return urllib.parse.quote(urllib.parse.quote(text, safe=""), safe="")
    # Raw: what a careless or hostile client sends (bytes above 0x7f as UTF-8).
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def _query(rng):
    parts = []
    for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 2, 3, 5, 50])):
        key = rng.choice(KEYS)
        shape = rng.random()
        if shape < 0.75:
            parts.append(f"{_encode(rng, key)}={_encode(rng, _random_text(rng))}")
        elif shape < 0.85:
            parts.append(_encode(rng, key))  # a key without "="
        elif shape < 0.95:
            parts.append(f"{_encode(rng, key)}=")
        else:
            parts.append(f"{_encode(rng, key)}={_encode(rng, _random_text(rng))}=x")
    sep = rng.choice(["&"] * 8 + [";", "&&"])
    query = sep.join(parts)
    if rng.random() < 0.05:
        query = rng.choice(["&", "=", "==", "&=&", "%", "run", "run=plain&run=plain"]) + query
    return query


def _request(rng, i):
    """`(path_info, query_string)` of request `i`: every route gets its share."""
    routes = DATA_ROUTES + ("index.js", "static")
    route = routes[i % len(routes)]
    if route == "static":
        suffix = rng.choice(STATIC_SUFFIXES)
        if rng.random() < 0.5:
            suffix = _encode(rng, suffix).replace("%2F", "/")
        # A server percent-decodes the path before PATH_INFO.
        raw = urllib.parse.unquote_to_bytes(PREFIX + "static/" + suffix)
        return raw.decode("latin-1"), _query(rng)
    if route == "view" and rng.random() < 0.3:
        # Several valid runs (some repeated), valid or hostile parts and points.
        runs = [rng.choice(RUNS) for _ in range(rng.choice([1, 2, 3, 5, 120]))]
        query = "&".join("run=" + urllib.parse.quote(r, safe="") for r in runs)
        if rng.random() < 0.5:
            query += "&part=" + rng.choice(["lr", "loss", "events", "audit", "finder", "export"])
        if rng.random() < 0.5:
            query += "&points=" + rng.choice(["100", "500", "2000", "0", "2001", "x"])
        if rng.random() < 0.3:
            query = rng.choice(["first=", "listing=1&first="]) + rng.choice(["1", "3", "0", "101"])
        if rng.random() < 0.3:
            query += "&" + _query(rng)
        return PREFIX + route, query.strip("&")
    if route in ("lr", "events", "loss", "audit", "finder", "export") and rng.random() < 0.2:
        # A valid request with something hostile added, or nothing but a valid run.
        query = "run=" + urllib.parse.quote(rng.choice(RUNS), safe="")
        if route == "export" and rng.random() < 0.5:
            query += "&format=" + rng.choice(["csv", "json"])
        if rng.random() < 0.5:
            query += "&" + _query(rng)
        return PREFIX + route, query.strip("&")
    return PREFIX + route, _query(rng)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    logdir = root / "logs"
    for k, name in enumerate(RUNS[:-1]):
        write_run(logdir / name, steps=60 + 20 * k, epochs=3, reductions=(1,))
    write_scalars(
        logdir / "konly" / "train",
        {"epoch_learning_rate": [(0, 0.1), (1, 0.1), (2, 0.05)], "epoch_loss": [(0, 1), (1, 0.5)]},
    )
    (root / "secret.txt").write_text("never to be served")
    static = root / "static"
    (static / "chunks").mkdir(parents=True)
    (static / "index.js").write_text("export function render() {}\n")
    (static / "app.js").write_text("export function render() {}\n")
    (static / "chunks" / "view.js").write_text("export const x = 1;\n")
    (static / "app.css").write_text("body {}\n")
    os.symlink(root / "secret.txt", static / "link.txt")
    return root, logdir, static


def _call(app, path_info, query_string):
    environ = EnvironBuilder(path="/").get_environ()
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query_string
    environ["REQUEST_URI"] = path_info + ("?" + query_string if query_string else "")
    body_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), headers.get("Content-Type", ""), b"".join(body_iter)


def _snapshot_answers(app):
    answers = {"runs": _call(app, PREFIX + "runs", "")}
    for run in RUNS:
        q = "run=" + urllib.parse.quote(run, safe="")
        for route in DATA_ROUTES[1:]:
            answers[(route, run)] = _call(app, PREFIX + route, q)
        answers[("csv", run)] = _call(app, PREFIX + "export", q + "&format=csv")
    return answers


# -- the test ------------------------------------------------------------------------------


def test_two_thousand_random_requests(fuzz_env, monkeypatch):
    root, logdir, static = fuzz_env
    monkeypatch.setattr(lr_plugin, "STATIC_DIR", str(static))
    tb = InProcessTensorBoard(logdir)
    app = tb.app
    before = _snapshot_answers(app)
    assert before["runs"][0] == 200
    assert len(json.loads(before["runs"][2])["runs"]) == len(RUNS)

    roots = [os.path.realpath(p) for p in (logdir, static)]
    roots += [
        os.path.realpath(p)
        for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    ]
    roots.append(os.path.realpath(os.path.dirname(tb_lr_plugin.__file__)))

    rng = random.Random(SEED)
    statuses = {}
    failures = []
    _AUDIT["paths"].clear()
    _AUDIT["on"] = True
    start = time.monotonic()
    try:
        for i in range(REQUESTS):
            path_info, query = _request(rng, i)
            status, ctype, body = _call(app, path_info, query)
            statuses[status] = statuses.get(status, 0) + 1
            route = path_info[len(PREFIX) :].split("/")[0]
            why = _check(route, query, status, ctype, body)
            if why:
                failures.append((why, status, ctype, path_info[:200], query[:200], body[:200]))
            assert time.monotonic() - start < TIME_LIMIT, f"too slow: {i} requests"
    finally:
        _AUDIT["on"] = False
    elapsed = time.monotonic() - start
    counts = sorted(statuses.items())
    print(f"\n{REQUESTS} requests in {elapsed:.1f} s, seed {SEED}: statuses {counts}")

    assert not failures, "\n".join(map(repr, failures[:10]))
    assert set(statuses) <= {200, 400, 404}, statuses
    assert statuses.get(200, 0) > REQUESTS // 20 and statuses.get(400, 0) and statuses.get(404, 0)

    outside = sorted({p for p in _AUDIT["paths"] if not _inside(p, roots)})
    assert not outside, f"opened outside the logdir and static folder: {outside[:10]}"
    # The hook saw the static files served (it is not looking away).
    assert any(_inside(p, [os.path.realpath(static)]) for p in _AUDIT["paths"])
    secret = os.path.realpath(root / "secret.txt")
    assert secret not in {os.path.realpath(p) for p in _AUDIT["paths"]}

    # Still healthy: every answer as before, byte for byte.
    after = _snapshot_answers(app)
    assert after == before
    reader = app_plugin(tb)._reader
    assert len(reader._cache) <= 8 and len(reader._summaries) == len(RUNS)


def app_plugin(tb):
    return next(p for p in tb.app._plugins if p.plugin_name == "learning_rate")


def _check(route, query, status, ctype, body):
    """Why an answer breaks the rules, or `None`."""
    if status not in (200, 400, 404):
        return "status"
    if status == 200 and route == "index.js":
        return None if ctype.startswith("text/javascript") else "index.js type"
    if status == 200 and route == "static":
        return None
    if status == 200 and route == "export" and ctype.startswith("text/csv"):
        return None
    if not ctype.startswith("application/json"):
        return "not JSON"
    if b"<" in body:
        return "raw < in JSON"
    try:
        parsed = json.loads(body)
    except ValueError:
        return "invalid JSON"
    if status != 200 and not (isinstance(parsed, dict) and isinstance(parsed.get("error"), str)):
        return "error without message"
    return None


def _over_the_wire(url, path_info, query):
    """GETs the request from a real server, encoded as a browser sends it."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    target = urllib.parse.quote(path_info.encode("latin-1"), safe="/")
    if query:
        target += "?" + urllib.parse.quote(query.encode("latin-1"), safe="%&=;/+?:,@!$'()*[]~")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def test_a_real_tensorboard_process_too(fuzz_env):
    _, logdir, _ = fuzz_env
    tb = TensorBoardProcess(logdir)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, body = tb.get("runs")
            if status == 200 and len(json.loads(body)["runs"]) == len(RUNS):
                break
            time.sleep(0.5)

        def answers():
            got = {"runs": _over_the_wire(tb.url, PREFIX + "runs", "")}
            for run in RUNS:
                q = "run=" + urllib.parse.quote(run, safe="")
                for route in DATA_ROUTES[1:]:
                    got[(route, run)] = _over_the_wire(tb.url, PREFIX + route, q)
            return got

        # Settled: the loader has committed everything (two equal readings).
        before, previous = answers(), None
        while before != previous and time.monotonic() < deadline + 30:
            time.sleep(1)
            previous, before = before, answers()
        assert len(json.loads(before["runs"][2])["runs"]) == len(RUNS)
        rng = random.Random(SEED + 1)
        failures, statuses, sent = [], {}, 0
        for i in range(WIRE_REQUESTS):
            path_info, query = _request(rng, i)
            if len(path_info) + 3 * len(query) > 60_000:
                continue  # the HTTP server refuses long URIs itself (414)
            status, ctype, body = _over_the_wire(tb.url, path_info, query)
            sent += 1
            statuses[status] = statuses.get(status, 0) + 1
            why = _check(path_info[len(PREFIX) :].split("/")[0], query, status, ctype, body)
            if why:
                failures.append((why, status, ctype, path_info[:200], query[:200], body[:200]))
        print(f"\n{sent} requests over the wire: statuses {sorted(statuses.items())}")
        assert not failures, "\n".join(map(repr, failures[:10]))
        assert tb.proc.poll() is None
        assert answers() == before
    finally:
        tb.stop()
