"""The batched `view` route: what the first draw of many runs needs, in one answer.

`view?run=A&run=B&part=lr&part=loss&part=events[&points=N]` answers
`{"runs": [{"run": "A", "lr": {...}, "loss": {...}, "events": {...}}, ...]}`,
each part the same body as the run's own route (`lr?run=A`, ...), in the
order asked. `first=N` instead of `run` names the listing's first N runs
(the tab's default selection), and `listing=1` adds the `runs` route's
list as `"listing"`: a tab opening without a saved selection draws after
one request. Fifty selected runs cost one request and one listing instead
of 200 requests and 200 listings, and the runs not yet read are read many
per provider call.

The answers are kept by `(experiment, run, part, points)`, at the run's
latest version, up to
`MAX_BYTES` of JSON text, apart from the reader's snapshot cache (a few
runs): a later view of the same runs costs one listing and a join.
"""

import dataclasses

from tensorboard import errors

from tb_lr_plugin import answers, downsample, responses, run_version, sized_cache

PARTS = answers.PARTS
DEFAULT_PARTS = ("lr", "loss", "events")
# The most runs one request may name (the tab asks in chunks of this).
MAX_RUNS = 100
# The fewest points per series a caller may ask for (`downsample.select`'s floor).
MIN_POINTS = 100
MAX_BYTES = 64 << 20
DEFAULT_POINTS = downsample.DEFAULT_BUDGET


@dataclasses.dataclass(frozen=True)
class Query:
    """A checked `view` request.

    Attributes:
      runs: the runs named (`run`), in order; empty when `first` is given.
      first: how many of the listing's first runs (`first=N`), or 0.
      parts: the parts asked for, in order.
      points: the most points per `lr` and `loss` series.
      listing: whether the answer also carries the `runs` route's list.
    """

    runs: tuple
    first: int
    parts: tuple
    points: int
    listing: bool


def parse_query(request):
    """The `Query` of a `view` request, strictly checked.

    Raises:
      errors.InvalidArgumentError: an unknown or repeated parameter, no run
        (or both `run` and `first`), too many, a run named twice, an
        unknown part, or a bad `points`, `first` or `listing`.
    """
    args = request.args
    unknown = sorted(set(args.keys()) - {"run", "part", "points", "first", "listing"})
    if unknown:
        raise errors.InvalidArgumentError(
            f"Unknown query parameter {unknown[0]!r}; this route takes "
            "first, listing, part, points, run"
        )
    runs = args.getlist("run")
    first = _count(args.getlist("first"), "first", 1, MAX_RUNS, None)
    if first is not None and runs:
        raise errors.InvalidArgumentError("Give either 'run' or 'first', not both")
    if first is None and (not runs or not all(runs)):
        raise errors.InvalidArgumentError("Missing query parameter 'run'")
    if len(runs) > MAX_RUNS:
        raise errors.InvalidArgumentError(f"{len(runs)} runs named; at most {MAX_RUNS} per request")
    if len(set(runs)) != len(runs):
        raise errors.InvalidArgumentError("A run is named twice; name each once")
    parts = args.getlist("part") or list(DEFAULT_PARTS)
    bad = [p for p in parts if p not in PARTS]
    if bad or len(set(parts)) != len(parts):
        raise errors.InvalidArgumentError(
            f"Bad part {(bad or parts)[0]!r}; give each of {', '.join(PARTS)} at most once"
        )
    points = _count(args.getlist("points"), "points", MIN_POINTS, DEFAULT_POINTS, DEFAULT_POINTS)
    listing = _count(args.getlist("listing"), "listing", 0, 1, 0)
    return Query(tuple(runs), first or 0, tuple(parts), points, bool(listing))


def _count(values, name, low, high, default):
    """The whole number in `values` (one query parameter's), in `[low, high]`, or `default`."""
    if not values:
        return default
    text = values[0]
    if len(values) > 1 or not text.isdigit() or len(text) > 6:
        raise errors.InvalidArgumentError(f"Bad {name} {text!r}; give one whole number")
    value = int(text)
    if not low <= value <= high:
        raise errors.InvalidArgumentError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def entity_tag(experiment, query, index, options=None, scalars_kept=None):
    """The `ETag` of the `view` answer to `query` (`responses.entity_tag`).

    The answer is a function of the query and of the versions of the runs
    it shows, and of every run's when it carries the listing (or picks
    `first` runs from it), so the tag is computed from the `index` alone.

    Args:
      experiment: the request's experiment.
      query: a `Query`.
      index: the reader's `index()`.
      options: the reader's tag patterns (what a version depends on).
      scalars_kept: what TensorBoard keeps of each `scalars` tag.
    """
    shown = list(index) if (query.listing or query.first) else list(query.runs)
    versions = run_version.versions(index, shown, options)
    return responses.entity_tag("view", experiment, query, scalars_kept, versions)


class Views:
    """Builds and keeps `view` answers over a `reader.RunReader`.

    Args:
      reader: the plugin's `RunReader` (its listing, reads and worker).
      scalars_kept: what TensorBoard keeps of each `scalars` tag (for `lr`).
      max_bytes: the most JSON text kept.
    """

    def __init__(self, reader, scalars_kept=answers.SCALARS_KEPT, max_bytes=MAX_BYTES):
        self._reader = reader
        self._scalars_kept = scalars_kept
        # (experiment, run, part, points) -> (version, JSON text)
        self._texts = sized_cache.SizedCache(max_bytes)

    def answer(
        self,
        ctx,
        experiment,
        runs,
        parts=DEFAULT_PARTS,
        points=DEFAULT_POINTS,
        listing=None,
        index=None,
    ):
        """The serialized `view` answer (`str`) of `runs`.

        Args:
          ctx, experiment: the request's (see `RunReader`).
          runs: the run names, in the answer's order.
          parts: the parts of each run, in order (`PARTS`).
          points: the most points per `lr` and `loss` series.
          listing: the `runs` route's list, to carry along, or `None`.
          index: the reader's `index()` the request listed, or `None`.

        Raises:
          errors.NotFoundError: a run with nothing to show.
        """
        specs = self._reader.versions(ctx, experiment, runs, index)
        texts = {}
        todo = {}
        for run in runs:
            for part in parts:
                hit = self._get((experiment, run, part, _budget(part, points)), specs[run][1])
                if hit is None:
                    todo[run] = specs[run]
                else:
                    texts[run, part] = hit
        if todo:
            snaps = self._reader.read(ctx, experiment, todo)
            built = self._reader.on_worker(self._build, snaps, parts, points)
            for (run, part), text in built.items():
                texts[run, part] = text
                self._put((experiment, run, part, _budget(part, points)), specs[run][1], text)
        items = (
            '{"run":'
            + responses.dumps(run)
            + "".join(f',"{part}":' + texts[run, part] for part in parts)
            + "}"
            for run in runs
        )
        head = "" if listing is None else '"listing":' + responses.dumps(listing) + ","
        return "{" + head + '"runs":[' + ",".join(items) + "]}"

    def primer(self, experiment, runs, parts=DEFAULT_PARTS, points=DEFAULT_POINTS):
        """A `snapshot -> None` that keeps the answers of `runs` as they are read.

        Given to the listing (`RunReader.summaries` reads every changed run
        to list it), so a `view` of the same runs right after it reads
        nothing again: a cold start reads each run once.
        """
        wanted = set(runs)

        def prime(snap):
            if snap.run not in wanted:
                return
            built = self._reader.on_worker(self._build, {snap.run: snap}, parts, points)
            for (run, part), text in built.items():
                self._put((experiment, run, part, _budget(part, points)), snap.version, text)

        return prime

    def _build(self, snaps, parts, points):
        """`{(run, part): text}` of each run read; on the reader's worker (see `RunReader`)."""
        out = {}
        for run, snap in snaps.items():
            for part in parts:
                body = answers.part_body(snap, part, self._scalars_kept, budget=points)
                out[run, part] = responses.dumps(body)
        return out

    def _get(self, key, version):
        hit = self._texts.get(key, accept=lambda kept: kept[0] == version)
        return None if hit is None else hit[1]

    def _put(self, key, version, text):
        # One version per key: a live run's older answers go at once.
        self._texts.put(key, (version, text), len(text))


def _budget(part, points):
    """The points a part's key holds: only `lr` and `loss` are downsampled."""
    return points if part in ("lr", "loss") else None
