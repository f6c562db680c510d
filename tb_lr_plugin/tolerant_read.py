"""Reading through a TensorBoard `DataProvider`, skipping what it cannot decode.

The data provider decodes every point it returns, and one malformed
tensor makes the whole call raise; `read_points` narrows such a call down to
the run and tag at fault and reads everything else. `fetch` reads what
`reader.RunReader` builds runs from: our tensors and the sources' scalars.
"""

import logging

import numpy as np
from tensorboard.data import provider

from tb_lr_plugin import metadata, quick_ack, run_model, run_version

logger = logging.getLogger(__name__)

# The plugin the sources' scalars (Keras's, Lightning's, ...) are written under.
SCALARS_PLUGIN = "scalars"
# "Everything": our plugin's records are few (many rows each) and
# TensorBoard keeps them all (see `plugin.LearningRateLoader.fix_flags`).
_ALL = 10**9


def fetch(data_provider, ctx, experiment, batch):
    """The points of `batch`: one provider call for our tensors, one for the scalars.

    Args:
      data_provider: TensorBoard's `DataProvider`.
      ctx, experiment: the request's context and experiment.
      batch: `{run: (source, version, logger_tags, keras_index)}`.

    Returns:
      `(tensors, scalars, bad)`: `{run: {tag: [TensorDatum]}}`,
      `{run: {tag: [ScalarDatum]}}` and the `(run, tag)` pairs skipped.
    """

    def reader(method, plugin_name):
        def read(runs, tags):
            return quick_ack.call(
                data_provider,
                method,
                ctx,
                experiment_id=experiment,
                plugin_name=plugin_name,
                downsample=_ALL,
                run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
            )

        return read

    wanted = {run: set(spec[2]) for run, spec in batch.items() if spec[2]}
    tensors, bad = read_points(reader("read_tensors", metadata.PLUGIN_NAME), wanted)
    wanted = {krun: set(tags) for spec in batch.values() for krun, tags in spec[3].items()}
    scalars, bad_scalars = read_points(reader("read_scalars", SCALARS_PLUGIN), wanted)
    return tensors, scalars, bad + bad_scalars


def keras_points(run, scalars):
    """`{".": {tag: [n, 2]}, "train": {...}, "validation": {...}}` of `run`'s scalars."""
    keras = {}
    for name, sub in run_version.splits_of(run):
        keras[sub] = {}
        for tag, points in scalars.get(name, {}).items():
            if not points or not run_model.wants_scalar(tag):
                continue
            rows = np.array([(p.step, p.value) for p in points], dtype=np.float64)
            keras[sub][tag] = rows[np.argsort(rows[:, 0], kind="stable")]
    return keras


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
