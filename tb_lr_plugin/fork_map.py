"""Mapping a function over items in forked worker processes.

`tb-lr-audit` reads and audits a logdir's runs in parallel with this: each
worker is forked after the imports (so it starts at once, with the
parent's modules and the function itself, nothing pickled on the way in),
reads and audits its share of the runs, and sends back only what the
output needs, pickled through a pipe. Shipping back whole runs (their
per-step arrays) would cost about as much as reading them.

A worker that dies (killed, out of memory) loses nothing: the parent
computes the items it did not deliver. An exception in `fn` is raised in
the parent, as the serial loop would raise it. Where `os.fork` is missing
(Windows) the items are mapped serially.
"""

import os
import pickle
import selectors
import signal


def default_jobs():
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def shares(weights, jobs):
    """Item indices split into `jobs` lists of about equal total weight.

    Heaviest first, each to the lightest share so far; each share keeps
    item order.

    Example:
      >>> shares([5, 1, 1, 3], 2)
      [[0], [1, 2, 3]]
    """
    loads = [[0, []] for _ in range(jobs)]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        lightest = min(loads, key=lambda load: load[0])
        lightest[0] += weights[i]
        lightest[1].append(i)
    return [sorted(items) for _, items in loads if items]


class _Failed:
    """An exception raised by `fn` in a worker, to raise again in the parent."""

    def __init__(self, error):
        self.error = error


def imap(fn, items, jobs, weights=None):
    """Yields `(i, fn(items[i]))` for every item, as results arrive.

    Args:
      fn: a function of one item; its results must pickle.
      items: a sequence.
      jobs: at most this many worker processes (1: no fork).
      weights: how long each item takes, relatively (e.g. its bytes), to
        balance the shares; default equal.

    Yields:
      `(index, result)`, each index once, in no fixed order.
    """
    jobs = min(jobs, len(items))
    if jobs <= 1 or not hasattr(os, "fork"):
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    workers = {}  # pid -> indices not yet received
    running = set()
    selector = selectors.DefaultSelector()
    try:
        for share in shares(weights or [1] * len(items), jobs):
            pid, reader = _fork(fn, items, share)
            workers[pid] = set(share)
            running.add(pid)
            selector.register(reader, selectors.EVENT_READ, pid)
        while selector.get_map():
            for key, _ in selector.select():
                yield from _receive(key, selector, workers)
        while running:
            os.waitpid(running.pop(), 0)
        # What a dead worker left undone.
        for i in sorted(i for left in workers.values() for i in left):
            yield i, fn(items[i])
    finally:
        _stop(running, selector)


def _fork(fn, items, share):
    """Starts a worker on `items[i]` for `i` in `share`; `(pid, pipe reader)`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        code = 0
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as out:
                for i in share:
                    try:
                        result = fn(items[i])
                    except Exception as e:  # noqa: BLE001 - raised again in the parent
                        result = _Failed(e)
                    pickle.dump((i, result), out, protocol=pickle.HIGHEST_PROTOCOL)
                    out.flush()
        except BaseException:  # noqa: BLE001 - a worker must never return
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, os.fdopen(read_end, "rb")


def _receive(key, selector, workers):
    """The next result from one worker's pipe (none at its end)."""
    reader, pid = key.fileobj, key.data
    try:
        i, result = pickle.load(reader)
    except (EOFError, pickle.UnpicklingError):
        selector.unregister(reader)
        reader.close()
        return
    workers[pid].discard(i)
    if isinstance(result, _Failed):
        raise result.error
    yield i, result


def _stop(running, selector):
    """Ends and reaps the workers still running (after an error in the parent)."""
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    selector.close()
    for pid in running:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
