"""A real S3 store on 127.0.0.1 for the tests and the benchmark.

`S3Store` runs moto's S3 server (`moto.server.ThreadedMotoServer`) and,
in front of it, `FaultProxy`: a small HTTP proxy that forwards every
request unchanged, or adds latency, or answers 500 (as S3 does when it is
"InternalError"-ing), or refuses connections. Clients are pointed at the
proxy the way users point them at any S3-compatible store: through
`AWS_ENDPOINT_URL` (boto3, s3fs) and `S3_ENDPOINT` (TensorBoard's gfile),
with credentials in the environment.
"""

import contextlib
import http.client
import http.server
import os
import socket
import threading
import time

BUCKET = "logs"
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}
_ERROR_500 = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


def blocked_imports(*names):
    """Python source that makes `names` unimportable (as if not installed),
    for the start of a `python -c` script."""
    return f"""
import importlib.abc, importlib.util, sys

class _Blocked(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {set(names)!r}:
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {{spec.name!r}}", name=spec.name)
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, _Blocked())
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultProxy:
    """Forwards HTTP to `upstream`, with faults switched on and off.

    Attributes:
      delay: seconds added before forwarding each request.
      fail: when true, every request is answered 500 without forwarding.
      requests: how many requests arrived (forwarded or failed).
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.delay = 0.0
        self.fail = False
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                proxy.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.delay:
                    time.sleep(proxy.delay)
                if proxy.fail:
                    return self._answer(500, {"Content-Type": "application/xml"}, _ERROR_500)
                try:
                    status, headers, data = proxy._forward(self, body)
                except OSError:
                    # The store is down: hang up, as a dead server would.
                    self.close_connection = True
                    return
                self._answer(status, headers, data)

            def _answer(self, status, headers, data):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any  # noqa: N815

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _forward(self, handler, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP}
            out.pop("Content-Length", None)
            if handler.command == "HEAD" and response.getheader("Content-Length"):
                # A HEAD says the object's size, with no body.
                out["Content-Length"] = response.getheader("Content-Length")
            return response.status, out, data
        finally:
            conn.close()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class S3Store:
    """moto's S3 server behind a `FaultProxy`, with one bucket `logs`.

    Example:
      with S3Store() as store:
          os.environ.update(store.env)
          ...  # s3://logs/... now lives on 127.0.0.1
    """

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.moto_port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        self.proxy = FaultProxy(self.moto_port)
        self.endpoint = f"http://127.0.0.1:{self.proxy.port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
        self.client().create_bucket(Bucket=BUCKET)

    @property
    def direct_env(self):
        """`env` pointing at moto itself, without the proxy."""
        endpoint = f"http://127.0.0.1:{self.moto_port}"
        return dict(self.env, AWS_ENDPOINT_URL=endpoint, S3_ENDPOINT=endpoint)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def keys(self, prefix=""):
        """Every object key under `prefix`, in name order."""
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def get(self, key):
        return self.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def download(self, prefix, directory):
        """Copies every object under `prefix` into `directory` (a mirror)."""
        for key in self.keys(prefix):
            path = os.path.join(directory, os.path.relpath(key, prefix))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(self.get(key))

    def stop_server(self):
        """Stops moto (connections to the proxy then fail); the data stays."""
        self._moto.stop()

    def start_server(self):
        from moto.server import ThreadedMotoServer

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()

    def close(self):
        self.proxy.close()
        with contextlib.suppress(Exception):
            self._moto.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
