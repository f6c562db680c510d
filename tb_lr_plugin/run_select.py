"""Which runs `--run` selects: names or regular expressions, any number.

A pattern selects the run of that exact name if there is one; otherwise it
is a regular expression that must match a whole run name (`exp/.*`), as in
TensorBoard's run filter but anchored, so `exp/1` never also picks
`exp/10`.

Example:
  >>> match(["a", "exp/1", "exp/10"], ["exp/1"])
  ['exp/1']
  >>> match(["a", "exp/1", "exp/10"], ["exp/.*", "a"])
  ['a', 'exp/1', 'exp/10']
"""

import re


class NoMatchError(ValueError):
    """A pattern that selects no run, or is neither a name nor a regex."""


def match(names, patterns):
    """The names `patterns` select, in the order of `names`.

    Args:
      names: every run name.
      patterns: names or regular expressions; empty selects every run.

    Returns:
      A list of names.

    Raises:
      NoMatchError: a pattern selects nothing.
    """
    names = list(names)
    if not patterns:
        return names
    chosen = set()
    for pattern in patterns:
        if pattern in names:
            chosen.add(pattern)
            continue
        try:
            regex = re.compile(pattern)
        except re.error as e:
            raise NoMatchError(
                f"no run {pattern!r}, and it is not a regular expression ({e})"
            ) from None
        hits = [n for n in names if regex.fullmatch(n)]
        if not hits:
            raise NoMatchError(f"no run {pattern!r} (as a name or a regular expression)")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def load(logdir, patterns, progress=None, options=None, **reading):
    """`loader.load` of the runs `patterns` select, reading only their files.

    Args:
      logdir: the directory given to TensorBoard, or a URL.
      patterns: names or regular expressions (`match`); empty for every run.
      progress: as for `loader.load`.
      options: the tag patterns, as for `loader.load`.
      **reading: `jobs` and `per_run`, as for `loader.load`.

    Returns:
      A `loader.Logdir` of the selected runs with learning-rate data.

    Raises:
      NoMatchError: a pattern selects no run with learning-rate data.
    """
    from tb_lr_plugin import loader

    if not patterns:
        return loader.load(logdir, progress=progress, options=options, **reading)
    names = _run_names(loader.list_files(logdir))
    chosen = match(names, patterns)
    if len(chosen) == len(names):
        found = loader.load(logdir, progress=progress, options=options, **reading)
    else:
        found = None
        for name in chosen:
            part = loader.load(logdir, run=name, progress=progress, options=options, **reading)
            found = part if found is None else _merged(found, part)
    # A pattern may have selected only directories without LR data.
    keep = match(found.runs, patterns)
    found.runs = {name: found.runs[name] for name in keep}
    return found


def _run_names(dirs):
    """Run names as the audit reports them: Keras's `<run>/train` is `<run>`."""
    from tb_lr_plugin import run_model

    return sorted({(run_model.parent_of(name) or (name,))[0] for name in dirs})


def _merged(a, b):
    a.runs = dict(sorted({**a.runs, **b.runs}.items()))
    a.damaged = sorted(set(a.damaged) | set(b.damaged))
    a.files += b.files
    a.bytes += b.bytes
    return a
