"""Reading through a TensorBoard `DataProvider`, skipping what it cannot decode.

The data provider decodes every point it returns, and one malformed
tensor makes the whole call raise; `read_points` narrows such a call down to
the run and tag at fault and reads everything else.
"""

import logging

logger = logging.getLogger(__name__)

# What TensorBoard's decoding of a malformed tensor raises.
_DECODE_ERRORS = (ValueError, TypeError, IndexError, KeyError, OverflowError, MemoryError)


def read_points(read, wanted):
    """`{run: {tag: points}}` of `wanted` (`{run: set of tags}`) via `read(runs, tags)`.

    The data provider decodes every point it returns (TensorBoard's
    `tensor_util.make_ndarray`), and one malformed tensor (content that does
    not fill its shape, an unknown dtype) makes the whole call raise. Then
    this reads run by run, and tag by tag, and skips what still fails.

    Returns:
      `(points, bad)`: the points, and the `(run, tag)` pairs skipped.
    """
    if not wanted:
        return {}, []
    runs = sorted(wanted)
    tags = sorted(set().union(*wanted.values()))
    try:
        data = read(runs, tags)
    except _DECODE_ERRORS:
        if len(runs) == 1 and len(tags) == 1:
            logger.debug("learning_rate: cannot decode %r of run %r", tags[0], runs[0])
            return {}, [(runs[0], tags[0])]
        if len(runs) > 1:
            parts = [{run: wanted[run]} for run in runs]
        else:
            parts = [{runs[0]: {tag}} for tag in tags]
        points, bad = {}, []
        for part in parts:
            got, failed = read_points(read, part)
            for run, by_tag in got.items():
                points.setdefault(run, {}).update(by_tag)
            bad += failed
        return points, bad
    # One call for several runs asks for the union of their tags: keep what
    # each run listed as its own (a tag can be ours in one run, unreadable
    # or newer in another).
    return {
        run: {tag: p for tag, p in by_tag.items() if tag in wanted[run]}
        for run, by_tag in data.items()
        if run in wanted
    }, []
