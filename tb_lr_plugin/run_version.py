"""What a run's cached answers are keyed by: its source and the version of its data.

`RunReader` (reader.py) and the batched `view` route (view.py) both key
their caches by `version()` of a run's listing, so both see new data at
the same moment.
"""

from tensorboard import errors

from tb_lr_plugin import run_model, sources

SOURCE_LOGGER = run_model.SOURCE_LOGGER
SOURCE_SCALARS = "scalars"  # the cache key's word for any scalar source


def version(run, logger_tags, keras_index, options=None):
    """`(source, version)` of a run: what its cache entries are keyed by.

    Args:
      run: the run's name.
      logger_tags: `{tag: (meta, max_step, max_wall_time)}` of our records, or `None`.
      keras_index: `{folder: {tag: (max_step, max_wall_time)}}` of the scalars read.
      options: the user's tag patterns (`sources.patterns.Options`) or `None`.

    Returns:
      `(source, version)`; `version` changes whenever a listed tag gets a record.

    Raises:
      errors.NotFoundError: the run has no data of ours and no Keras
        learning rate.
    """
    if logger_tags:
        source = SOURCE_LOGGER
    elif any(
        run_model.lists_lr(split, keras_index.get(name, {}), options)
        for name, split in splits_of(run)
    ):
        source = SOURCE_SCALARS
    else:
        raise errors.NotFoundError(f"No learning-rate data for run {run!r}")
    key = (
        source,
        tuple(sorted((t, s, w) for t, (_, s, w) in (logger_tags or {}).items())),
        tuple(sorted((r, tuple(sorted(tags.items()))) for r, tags in keras_index.items())),
    )
    return source, key


def versions(index, runs, options=None):
    """The `version` of each of `runs` in a listing `index` (`None` for a run it lacks).

    Args:
      index: `{run: (logger_tags, keras_index)}` (`listing.Listing.index`).
      runs: the runs' names.
      options: as for `version`.

    Returns:
      A tuple, in the order of `runs`: what an answer showing them is a function of.
    """
    return tuple(version(run, *index[run], options)[1] if run in index else None for run in runs)


def lists_lr(name, tags, options=None):
    """True when the listed scalar `tags` of folder `name` make some run's LR."""
    return any(run_model.lists_lr(split, tags, options) for _, split in run_model.owners(name))


def splits_of(run):
    """`(folder, split)` of each folder a source reads for `run`."""
    return [(run, sources.OWN)] + [
        (run_model.sibling(run, split), split) for split in sources.splits()
    ]
