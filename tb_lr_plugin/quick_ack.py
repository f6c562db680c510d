"""Calls to TensorBoard's Rust data server without its 40 ms stall.

Measured over loopback on the benchmark's logdir (3 runs), against
`tensorboard-data-server` 0.7.2: `list_tensors` and `list_scalars` took
42-45 ms each, every time, while `list_runs` took under 1 ms; with another
small call on the same connection meanwhile, `list_tensors` took 3 ms.
That is what Nagle's algorithm left on for the connections a server
accepts does, with the client's delayed ACK (40 ms on Linux): an answer
written in pieces (the HTTP/2 headers, the message, the trailers) holds
each piece until the one before is acknowledged, and any request the
client sends carries that ACK at once. (Inferred from these timings and
from the cure; the server's code was not read.)

`call(data_provider, method, ...)` makes such a call: `list_runs`,
the cheapest call there is, is sent 2, 4, 8, ... ms after it starts, until
it returns. Other providers (TensorBoard's Python loader) are called as
they are.
"""

import sys
import threading

from tensorboard import context as tb_context

# When the first nudge goes (an answer of one piece is back by then), and
# the longest gap between two.
_FIRST_NUDGE_S = 0.002
_MAX_GAP_S = 0.016


def call(data_provider, method, *args, **kwargs):
    """`data_provider.<method>(*args, **kwargs)`, nudged if it goes to the data server.

    Args:
      data_provider: TensorBoard's `DataProvider`.
      method: the name of the method to call (`"list_tensors"`, ...).

    Returns:
      What the method returns; what it raises is raised.

    Example:
      >>> call(provider, "list_tensors", ctx, experiment_id="", plugin_name="x")  # doctest: +SKIP
    """
    fn = getattr(data_provider, method)
    if not _over_grpc(data_provider):
        return fn(*args, **kwargs)
    done = threading.Event()
    try:
        threading.Thread(
            target=_nudge, args=(data_provider, done), name="learning_rate_nudge", daemon=True
        ).start()
    except RuntimeError:  # no thread to spare: the call, only slower
        pass
    try:
        return fn(*args, **kwargs)
    finally:
        done.set()


def _over_grpc(data_provider):
    # Not imported here: a provider of that class exists only once
    # TensorBoard has imported it.
    module = sys.modules.get("tensorboard.data.grpc_provider")
    return module is not None and isinstance(data_provider, module.GrpcDataProvider)


def _nudge(data_provider, done):
    gap = _FIRST_NUDGE_S
    ctx = tb_context.RequestContext()
    while not done.wait(gap):
        try:
            data_provider.list_runs(ctx, experiment_id="")
        except Exception:  # noqa: BLE001 - a nudge only helps; the call itself reports
            return
        gap = min(2 * gap, _MAX_GAP_S)
