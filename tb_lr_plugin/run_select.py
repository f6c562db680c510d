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

# Characters that make a pattern a regex rather than a run name.
_REGEX_ONLY = frozenset("*+?[](){}|^$\\")


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


def load(logdir, patterns, progress=None):
    """`loader.load` of the runs `patterns` select.

    A single exact name loads only that run's files; otherwise every run is
    read and the selection is applied to the runs with learning-rate data.

    Raises:
      NoMatchError: a pattern selects no run with learning-rate data.
    """
    from tb_lr_plugin import loader

    found = None
    if len(patterns) == 1 and not any(c in patterns[0] for c in _REGEX_ONLY):
        found = loader.load(logdir, run=patterns[0], progress=progress)
        if patterns[0] not in found.runs:  # maybe a regex after all ("exp.1")
            found = None
    if found is None:
        found = loader.load(logdir, progress=progress)
    keep = match(found.runs, patterns)
    found.runs = {name: found.runs[name] for name in keep}
    return found
