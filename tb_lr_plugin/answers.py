"""The routes' answers, computed from one run: what the plugin serves and a report inlines.

Each function takes a `reader.Snapshot` (a `run_model.Run` with a memo) and
returns the JSON-ready body of one route; `plugin.py` only parses queries,
memoizes and responds, and `html_report.py` calls the same functions, so the
tab and the report can never say different things.
"""

from tb_lr_plugin import audit, downsample, export, lr_finder, responses, run_model

# Points of a `scalars` tag TensorBoard keeps by default (its reservoir).
SCALARS_KEPT = 1000


def run_summary(snap):
    """One run's entry in `runs` (also what a report lists)."""
    return {
        "run": snap.run,
        "optimizers": list(snap.optimizers),
        "source": snap.source,
        "limits": snap.scalar.limits if snap.scalar is not None else [],
        "steps": snap.last_step,
        "epochs": len(snap.epoch),
        "events": len(events(snap)),
        "finder": len(snap.data.finder),
    }


def events(snap):
    """The events to show, strict-JSON clean, once per version of the run."""

    def compute():
        return responses.clean(snap.events())

    return snap.memoize("events_list", compute)


def lr_body(snap, scalars_kept=SCALARS_KEPT, budget=downsample.DEFAULT_BUDGET):
    """The `lr` route's answer: LR series per optimizer, downsampled for display.

    Args:
      snap: the run (`reader.Snapshot`).
      scalars_kept: how many points of a `scalars` tag TensorBoard keeps.
      budget: the most points per series (`downsample.select`).
    """
    keep = event_steps(events(snap))
    optimizers = []
    points = 0
    thinned = False
    for name, rows in snap.optimizers.items():
        idx = downsample.select(rows[:, 0], rows[:, 1:], budget=budget, keep_steps=keep)
        points += len(rows)
        thinned = thinned or len(idx) < len(rows)
        kept = rows[idx]
        optimizers.append(
            {
                "name": name,
                "step": responses.column(kept[:, 0], integer=True),
                "planned": responses.display_column(kept[:, 1]),
                "actual": responses.display_column(kept[:, 2]),
            }
        )
    body = {
        "run": snap.run,
        "source": snap.source,
        "axis": snap.axis,
        "optimizers": optimizers,
        "epochs": epochs(snap),
        "points": points,
        "downsampled": thinned,
        "plans": plans(snap.data.sessions),
    }
    if snap.scalar is not None:
        body["limits"] = snap.scalar.limits
        body["sampled"] = run_model.sampled(snap, scalars_kept)
        if snap.scalar.hyper:
            body["hyperparameters"] = responses.hyper_columns(
                snap.scalar.hyper,
                lambda rows: downsample.select(
                    rows[:, 0], rows[:, 1], budget=budget, keep_steps=keep
                ),
            )
    return body


def loss_body(snap, budget=downsample.DEFAULT_BUDGET):
    """The `loss` route's answer: the loss and metric series to draw under the LR.

    Args:
      snap: the run (`reader.Snapshot`).
      budget: the most points per step series (`downsample.select`).
    """
    keep = event_steps(events(snap))
    series = []
    thinned = False
    for item in run_model.loss_series(snap):
        name, source, resolution, x, values = item
        if resolution == "step":
            idx = downsample.select(x, values, budget=budget, keep_steps=keep)
            thinned = thinned or len(idx) < len(x)
            axes = {"step": responses.column(x[idx], integer=True)}
            values = values[idx]
        else:
            steps = snap.epoch_steps(x)
            ok = steps >= 0
            axes = {
                "epoch": responses.column(x[ok], integer=True),
                "step": responses.column(steps[ok], integer=True),
            }
            values = values[ok]
        series.append(
            {
                "name": name,
                "source": source,
                "resolution": resolution,
                **axes,
                "value": responses.display_column(values),
            }
        )
    return {
        "run": snap.run,
        "source": snap.source,
        "axis": snap.axis,
        "monitor": run_model.monitor(snap.data, snap.scalar),
        "series": series,
        "epochs": epochs(snap),
        "downsampled": thinned,
    }


# The per-run routes whose bodies `part_body` gives (also the `view` route's parts).
PARTS = ("lr", "loss", "events", "audit", "finder")


def part_body(snap, part, scalars_kept=SCALARS_KEPT, budget=downsample.DEFAULT_BUDGET):
    """The body of the per-run route `part` (one of `PARTS`) for `snap`.

    Args:
      snap: a `reader.Snapshot`.
      part: `lr`, `loss`, `events`, `audit` or `finder`.
      scalars_kept: what TensorBoard keeps of each `scalars` tag (`lr` only).
      budget: the most points per series (`lr` and `loss` only).

    Returns:
      The JSON-ready body, as `part?run=R` answers it.

    Example:
      >>> part_body(snap, "events")  # doctest: +SKIP
      {'events': [...]}
    """
    if part == "lr":
        return lr_body(snap, scalars_kept, budget=budget)
    if part == "loss":
        return loss_body(snap, budget=budget)
    if part == "events":
        return {"events": events(snap)}
    if part == "audit":
        return {"findings": audit_body(snap)}
    if part == "finder":
        return finder_body(snap)
    raise ValueError(f"unknown part {part!r}")


def export_body(snap, fmt):
    """`(bytes, content type)`: every recorded row of `snap`, as CSV or JSON."""
    # Encoded here, once: a `str` answer would be encoded again (copied)
    # at every request.
    if fmt == "csv":
        return export.to_csv([(snap.run, snap.optimizers)]).encode("utf-8"), "text/csv"
    body = {
        "run": snap.run,
        "optimizers": {
            name: {
                "step": responses.column(rows[:, 0], integer=True),
                "planned": responses.column(rows[:, 1]),
                "actual": responses.column(rows[:, 2]),
            }
            for name, rows in snap.optimizers.items()
        },
        "events": events(snap),
    }
    if snap.scalar is not None and snap.scalar.hyper:
        body["hyperparameters"] = responses.hyper_columns(snap.scalar.hyper)
    return responses.dumps(body).encode("utf-8"), responses.JSON


def plans(sessions):
    """Each optimizer's plan as the last `fit` call recorded it (class, config, initial LR)."""
    plans = {}
    for session in sessions:
        for opt in session.get("optimizers") or []:
            if isinstance(opt, dict) and isinstance(opt.get("name"), str):
                plans[opt["name"]] = {k: opt.get(k) for k in ("class", "plan", "initial_lr")}
    return responses.clean(plans)


def event_steps(events):
    return [e["step"] for e in events if isinstance(e.get("step"), (int, float))]


def epochs(snap):
    return {
        "epoch": responses.column(snap.epoch, integer=True),
        "step": responses.column(snap.step, integer=True),
    }


def audit_body(snap):
    """The `audit` route's findings."""
    return responses.clean(list(audit.find_run(snap)))


def finder_body(snap):
    """The `finder` route's answer: the LR range tests, never downsampled."""
    return {"run": snap.run, "tests": responses.clean(lr_finder.range_tests(snap.data.finder))}
