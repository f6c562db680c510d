"""The `table` format of `tb-lr-audit`: readable at 80 columns.

Per run: what the run is (source, steps, epochs), its LR range tests, every
LR change (for a plateau reduction: epoch, step, monitor, value, best,
wait/patience, old -> new LR, cooldown), then the findings.
"""

import textwrap

from tb_lr_plugin import formatting, lr_finder, metadata

WIDTH = 80

# The events that change the LR (the table's "LR changes").
_CHANGES = (metadata.EVENT_REDUCTION, metadata.EVENT_LR_CHANGE, metadata.EVENT_SCHEDULER)

_HEADERS = ("epoch", "step", "optimizer", "monitor", "value", "best", "wait", "lr", "cooldown")
_RIGHT = {"epoch", "step", "value", "best", "wait", "cooldown"}
_SHRINKABLE = ("monitor", "optimizer")


_num = formatting.cell


def _event_rows(events, multi_optimizer):
    """The table's rows; a run of torch's `ReduceLROnPlateau` alone gets
    a "num_bad_epochs" column ("3 > 2": torch's own rule) for "wait"."""
    torch_only = all(e.get("framework") == "torch" for e in events)
    rows = [_event_row(e, multi_optimizer, compact=torch_only) for e in events]
    if torch_only and rows:
        rows[0]["_titles"] = {"wait": "num_bad_epochs"}
    return rows


def _event_row(event, multi_optimizer, compact=False):

    epoch = event.get("epoch")
    lr = f"{formatting.lr(event.get('old_lr'))} -> {formatting.lr(event.get('new_lr'))}"
    row = {
        "epoch": str(epoch + 1) if isinstance(epoch, int) else "-",
        "step": str(int(event["step"])) if isinstance(event.get("step"), (int, float)) else "-",
        "optimizer": str(event.get("optimizer") or "-"),
        "monitor": str(event.get("monitor") or "-"),
        "value": _num(event.get("value")),
        "best": _num(event.get("best")),
        "wait": formatting.wait(event, compact=compact),
        "lr": lr,
        "cooldown": str(event["cooldown"]) if isinstance(event.get("cooldown"), int) else "-",
    }
    if not multi_optimizer:
        row.pop("optimizer")
    return row


def _fit(text, width):
    return text if len(text) <= width else text[: max(width - 1, 1)] + "~"


def _grid(rows, indent="  "):
    """Aligned columns that fit in WIDTH.

    Columns with nothing in any row are left out; then text columns are
    shortened (with "~"), the "cooldown" header becomes "cd", and as a last
    resort the widest columns are cut.
    """
    if not rows:
        return []
    keep = {"epoch", "step", "lr"}
    cols = [h for h in _HEADERS if h in rows[0] and (h in keep or any(r[h] != "-" for r in rows))]
    titles = {c: rows[0].get("_titles", {}).get(c, c) for c in cols}
    widths = {c: max(len(titles[c]), *(len(r[c]) for r in rows)) for c in cols}

    def total():
        return len(indent) + sum(widths.values()) + 2 * (len(cols) - 1)

    for col in _SHRINKABLE:
        if total() > WIDTH and col in widths:
            widths[col] -= max(min(total() - WIDTH, widths[col] - 4), 0)
    if total() > WIDTH and "cooldown" in widths:
        titles["cooldown"] = "cd"
        widths["cooldown"] = max(2, *(len(r["cooldown"]) for r in rows))
    while total() > WIDTH:
        widest = max(cols, key=lambda c: widths[c])
        widths[widest] -= 1

    def line(cells):
        parts = []
        for c in cols:
            text = _fit(cells[c], widths[c])
            parts.append(text.rjust(widths[c]) if c in _RIGHT else text.ljust(widths[c]))
        return (indent + "  ".join(parts)).rstrip()

    return [line(titles)] + [line(r) for r in rows]


def _describe_run(entry, timing):
    from tb_lr_plugin.sources.keras3 import SOURCE, TIMING_AFTER

    lines = []
    data = entry.data
    for name, rows in data.optimizers.items():
        if not len(rows):
            continue
        lines.append(
            f"{name}: steps {int(rows[0, 0])}-{int(rows[-1, 0])}, LR "
            f"{formatting.lr(rows[0, 2])} -> {formatting.lr(rows[-1, 2])} "
            f"(planned {formatting.lr(rows[0, 1])} -> {formatting.lr(rows[-1, 1])})"
        )
    if entry.scalar is not None and entry.scalar.per_step:
        for name, series in entry.scalar.lr.items():
            lines.append(
                f"{name}: steps {int(series[0, 0])}-{int(series[-1, 0])}, LR "
                f"{formatting.lr(series[0, 1])} -> {formatting.lr(series[-1, 1])}, "
                f"from {entry.source} ({entry.scalar.tags.get(name, name)})"
            )
        lines.append("Not in these logs: " + "; ".join(entry.scalar.limits))
    elif entry.scalar is not None:
        when = (
            "after the epoch-end callbacks ran"
            if timing == TIMING_AFTER
            else "before the epoch-end callbacks ran"
        )
        for name, series in entry.scalar.lr.items():
            lines.append(
                f"{name}: epochs {int(series[0, 0]) + 1}-"
                f"{int(series[-1, 0]) + 1}, LR {formatting.lr(series[0, 1])} -> "
                f"{formatting.lr(series[-1, 1])}, from {SOURCE} (LR read {when})"
            )
    if data.epochs:
        lines.append(f"{len(data.epochs)} epochs recorded")
    out = []
    for text in lines:
        out.extend(textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="    "))
    return out


def _finder_lines(tests):
    """The table's section on a run's LR range tests (nothing without one)."""

    if not tests:
        return []
    out = [f"LR range tests ({len(tests)})"]
    for test in tests:
        lrs, planned = test["lr"], test.get("num_steps")
        where = f"step {test['step']}" if test.get("step") is not None else "step -"
        if not lrs:
            out.append(f"  {where}: no step recorded")
            continue
        steps = f"{len(lrs)} steps"
        if isinstance(planned, int) and len(lrs) < planned:
            steps = f"{len(lrs)} of {planned} steps (stopped early)"
        out.append(f"  {where}: {steps}, LR {formatting.lr(lrs[0])} -> {formatting.lr(lrs[-1])}")
        valley, steepest = test.get("valley"), test.get("steepest")
        if valley is None and steepest is None:
            out.append("    suggested LR: none (too few steps)")
        else:
            valley, steepest = formatting.lr(valley), formatting.lr(steepest)
            out.append(f"    suggested LR (valley) {valley}, steepest {steepest}")
    return out


def render(results):
    """The `table` format: per run, its range tests, LR changes and findings, at 80 columns.

    Args:
      results: `(run, events, findings, timing)` per run, as the CLI audited them.

    Returns:
      The text, ending with a newline.
    """
    out = ["Epochs are counted from 1, as Keras prints them; steps are optimizer updates."]
    for entry, events, findings, timing in results:
        out.append("")
        out.append(f"Run: {entry.run}")
        out.extend(_describe_run(entry, timing))
        out.extend(_finder_lines(lr_finder.range_tests(entry.data.finder)))
        # Plateaus ignored at min_lr are summed up by the min_lr_reached finding.
        changes = [e for e in events if e.get("kind") in _CHANGES]
        optimizers = {e.get("optimizer") for e in changes}
        multi = len(optimizers) > 1 or len(entry.data.optimizers) > 1
        if changes:
            out.append(f"LR changes ({len(changes)})")
            out.extend(_grid(_event_rows(changes, multi)))
        else:
            out.append("LR changes: none")
        if findings:
            out.append(f"Findings ({len(findings)})")
            for f in findings:
                epoch = f"epoch {f['epoch'] + 1}" if f.get("epoch") is not None else "epoch -"
                step = f"step {f['step']}" if f.get("step") is not None else "step -"
                out.append(f"  {f['severity']:<7}  {f['kind']}  ({epoch}, {step})")
                out.extend(
                    textwrap.wrap(
                        f["message"],
                        WIDTH,
                        initial_indent="           ",
                        subsequent_indent="           ",
                        break_on_hyphens=False,
                    )
                )
        else:
            out.append("Findings: none")
    return "\n".join(out) + "\n"
