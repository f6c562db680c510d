"""`tb-lr-audit --format markdown`: the audit as GitHub-flavoured Markdown.

Short enough for a CI job summary (`>> $GITHUB_STEP_SUMMARY`): a table of
one-line verdicts ("3 reductions, 1 ineffective, min_lr reached at epoch
41"), then per run its LR changes and its findings. Epochs are counted from
1, as Keras prints them. Every string from the logs is escaped, so a run
name renders as the text it is, never as markup or a link.

Example:
  >>> print(verdict([{"kind": "reduction"}], []))
  1 reduction, no findings
"""

from tb_lr_plugin import formatting

# What counts as an LR change in the table (plateaus ignored at min_lr are
# summed up by the min_lr_reached finding, as in the table format).
_CHANGES = ("reduction", "lr_change", "scheduler")
_ICONS = {"warning": "⚠️", "info": "ℹ️"}
# Punctuation that can start markup anywhere in a line (our text never
# starts a line, so "#", "-", "+" and "1." are inert) or split a table cell.
_SPECIAL = set("\\`*[]|~")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text):
    r"""`text` as inert Markdown (also inside a table cell): no markup, one line.

    Example:
      >>> print(escape("<b>exp_1</b> *x*"))
      &lt;b&gt;exp_1&lt;/b&gt; \*x\*
    """
    text = " ".join(str(text).split())
    out = []
    for i, ch in enumerate(text):
        if ch in _HTML:
            out.append(_HTML[ch])
        elif ch in _SPECIAL or (ch == "_" and not _inside_word(text, i)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _inside_word(text, i):
    # An underscore between two letters or digits never opens or closes
    # emphasis in GFM, so "reduce_on_plateau" needs no escapes.
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def verdict(events, findings):
    """One line for a run: its reductions and what the findings say about them."""
    kinds = [e.get("kind") for e in events]
    parts = []
    if kinds.count("reduction"):
        parts.append(_plural(kinds.count("reduction"), "reduction"))
    other = sum(k in ("lr_change", "scheduler") for k in kinds)
    if other:
        parts.append(_plural(other, "other LR change" if parts else "LR change"))
    if not parts:
        parts.append("no LR change")
    by_kind = {}
    for f in findings:
        by_kind.setdefault(f.get("kind"), []).append(f)
    if by_kind.get("reduction_ineffective"):
        parts.append(f"{len(by_kind.pop('reduction_ineffective'))} ineffective")
    floor = by_kind.pop("min_lr_reached", None)
    if floor:
        epoch = floor[0].get("epoch")
        parts.append(f"min_lr reached at epoch {epoch + 1}" if _is_int(epoch) else "min_lr reached")
    warnings = sum(f.get("severity") == "warning" for fs in by_kind.values() for f in fs)
    infos = sum(f.get("severity") != "warning" for fs in by_kind.values() for f in fs)
    if warnings:
        parts.append(_plural(warnings, "other warning" if len(parts) > 1 else "warning"))
    if infos:
        parts.append(_plural(infos, "note"))
    if not findings:
        parts.append("no findings")
    return ", ".join(parts)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _event_row(e):
    epoch = e.get("epoch")
    cells = [
        str(epoch + 1) if _is_int(epoch) else "-",
        str(int(e["step"])) if isinstance(e.get("step"), (int, float)) else "-",
        escape(e.get("kind", "")),
        escape(e.get("optimizer") or "-"),
        escape(e.get("monitor") or "-"),
        escape(formatting.cell(e.get("value"))),
        escape(formatting.cell(e.get("best"))),
        escape(formatting.wait(e)),
        f"{formatting.lr(e.get('old_lr'))} → {formatting.lr(e.get('new_lr'))}",
    ]
    return "| " + " | ".join(cells) + " |"


def _run_section(name, events, findings):
    out = [f"### Run: {escape(name)}", "", f"**{escape(verdict(events, findings))}**", ""]
    changes = [e for e in events if e.get("kind") in _CHANGES]
    if changes:
        out.append("| epoch | step | kind | optimizer | monitor | value | best | wait | LR |")
        out.append("|---:|---:|---|---|---|---:|---:|---:|---|")
        out.extend(_event_row(e) for e in changes)
        out.append("")
    for f in findings:
        where = []
        if _is_int(f.get("epoch")):
            where.append(f"epoch {f['epoch'] + 1}")
        if isinstance(f.get("step"), (int, float)):
            where.append(f"step {int(f['step'])}")
        at = f" ({', '.join(where)})" if where else ""
        icon = _ICONS.get(f.get("severity"), "")
        out.append(
            f"- {icon} **{escape(f.get('severity', ''))}** {_kind(f.get('kind'))}{at}: "
            f"{escape(f.get('message', ''))}"
        )
    if findings:
        out.append("")
    return out


def _kind(kind):
    # The audit's kinds are identifiers: shown as code, as in docs/audit.md.
    text = str(kind or "finding")
    return f"`{text}`" if text.replace("_", "").isalnum() and text.isascii() else escape(text)


def render(logdir, runs):
    """The Markdown text.

    Args:
      logdir: the logdir as given on the command line.
      runs: `(name, events, findings)` per run, events sorted by step.

    Returns:
      The document, ending in a newline.
    """
    out = [f"## Learning rate audit: {escape(logdir)}", ""]
    out.append("| run | verdict |")
    out.append("|---|---|")
    for name, events, findings in runs:
        out.append(f"| {escape(name)} | {escape(verdict(events, findings))} |")
    out.append("")
    out.append("Epochs are counted from 1, as Keras prints them; steps are optimizer updates.")
    out.append("")
    for name, events, findings in runs:
        out.extend(_run_section(name, events, findings))
    return "\n".join(out).rstrip("\n") + "\n"
