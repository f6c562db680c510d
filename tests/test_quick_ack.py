"""`quick_ack`: listings over TensorBoard's real Rust data server, with and
without the nudge, side by side; and no nudge for any other provider."""

import statistics
import time

import pytest
from conftest import write_run
from tensorboard import context as tb_context
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util

from tb_lr_plugin import metadata, quick_ack

REPEATS = 7


@pytest.fixture(scope="module")
def data_server(tmp_path_factory):
    """A `GrpcDataProvider` over a data server that has loaded 4 runs."""
    logdir = tmp_path_factory.mktemp("quick_ack")
    for i in range(4):
        write_run(logdir / f"run_{i}", steps=60, epochs=3, optimizers=("adam", "aux"))
    ingester = server_ingester.SubprocessServerDataIngester(
        server_ingester.get_server_binary(),
        str(logdir),
        reload_interval=1,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin={metadata.PLUGIN_NAME: 0},
    )
    ingester.start()
    data_provider = ingester.data_provider
    ctx = tb_context.RequestContext()
    deadline = time.monotonic() + 60
    while len(_list(data_provider, ctx)) < 4:
        assert time.monotonic() < deadline, "the data server did not load the runs"
        time.sleep(0.2)
    return data_provider, ctx


def _list(data_provider, ctx):
    return data_provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def test_a_nudged_listing_does_not_wait_for_the_delayed_ack(data_server):
    data_provider, ctx = data_server
    plain, nudged = [], []
    for _ in range(REPEATS):  # interleaved, so that both see the same machine
        t, expected = _timed(lambda: _list(data_provider, ctx))
        plain.append(t)
        t, got = _timed(
            lambda: quick_ack.call(
                data_provider,
                "list_tensors",
                ctx,
                experiment_id="",
                plugin_name=metadata.PLUGIN_NAME,
            )
        )
        nudged.append(t)
        assert got == expected
    ratio = statistics.median(nudged) / statistics.median(plain)
    assert ratio < 0.5, (plain, nudged)


class _Provider:
    """Not a gRPC provider: counts what `quick_ack` asks of it."""

    def __init__(self):
        self.runs_listed = 0

    def list_tensors(self, ctx, **kwargs):
        time.sleep(0.03)  # long enough for several nudges, were there any
        return {"run": kwargs}

    def list_runs(self, ctx, **kwargs):
        self.runs_listed += 1
        return []


def test_another_provider_is_called_as_it_is():
    p = _Provider()
    assert quick_ack.call(p, "list_tensors", None, plugin_name="x") == {"run": {"plugin_name": "x"}}
    assert p.runs_listed == 0


def test_what_the_call_raises_is_raised(data_server):
    data_provider, ctx = data_server
    with pytest.raises(TypeError):
        quick_ack.call(data_provider, "list_tensors", ctx, no_such_argument=1)
