"""`tb-lr-audit`: plateau reductions and LR findings of a logdir, in a terminal.

Usage:

    tb-lr-audit LOGDIR [--run NAME ...] [--format table|json|csv|markdown]
                       [--html FILE] [--fail-on warning|info] [--jobs N]

- `table` (default): per run, its LR range tests (steps, LR range, the
  suggested LR and the steepest descent), every LR change (for a plateau
  reduction: epoch, step, monitor, value, best, wait/patience, old -> new
  LR, cooldown), then the findings. Readable at 80 columns.
- `json`: `{"runs": [{"run", "events", "findings", "finder"}]}`, the same
  events, findings and range tests as the plugin's `events`, `audit` and
  `finder` routes (non-finite numbers become `null`).
- `csv`: `run,optimizer,step,planned,actual`, every step recorded by
  `LearningRateLogger` (runs written only by Keras's `TensorBoard` callback
  have no per-step rows).
- `markdown`: GitHub-flavoured Markdown for a CI job summary: a one-line
  verdict per run, its LR changes and its findings (see `markdown.py`).

`--run` takes a run name or a regular expression matching whole names,
and may be repeated. `--html FILE` also writes the self-contained report
(`html_report.py`); `--fail-on warning|info` makes the exit status 1 when a
finding of that severity or above exists. For `json` and `markdown`, runs
are read and audited in `--jobs N` forked processes (default: one per CPU
for a local logdir of 8 MB or more; see `loader.load`).

Exit status: 0 on success; 1 when `--fail-on` finds a finding at its
severity; 2 for bad usage, a missing or unreadable logdir, an unknown
`--run`, or a logdir without learning-rate data, with one line on stderr.
Loading progress goes to stderr when it takes over a second.

This module imports neither TensorFlow nor Keras, and `main()` makes
TensorBoard's code run without them (see `loader.prefer_tensorboard_stub`).
"""

import argparse
import json
import logging
import os
import sys
import typing

from tb_lr_plugin import formatting, storage
from tb_lr_plugin.sources import patterns

PROG = "tb-lr-audit"
# Finding severities, lowest first (`--fail-on info` fails on warnings too).
SEVERITIES = ("info", "warning")


class UsageError(Exception):
    """Bad usage or unusable input: exit status 2, one line on stderr."""


class _Parser(argparse.ArgumentParser):
    stdout = None

    def error(self, message):
        raise UsageError(f"{message} (see {PROG} --help)")

    def _print_message(self, message, file=None):
        # --help goes to the stream run() was given.
        if message:
            (self.stdout or sys.stdout).write(message)


def _parser():
    parser = _Parser(
        prog=PROG,
        description=(
            "Audit the learning rate of TensorBoard runs: every plateau reduction and LR "
            "change, and findings such as ineffective reductions, thrashing, min_lr "
            "reached, deviations from the plan, restarts and loss spikes."
        ),
    )
    parser.add_argument("logdir", metavar="LOGDIR", help="the directory given to TensorBoard")
    parser.add_argument(
        "--run",
        metavar="NAME",
        action="append",
        help="audit only this run (e.g. '.' or 'exp/1'), or the runs whose whole name "
        "matches this regular expression (e.g. 'exp/.*'); repeatable",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv", "markdown"),
        default="table",
        help="output format (default: table; markdown: for a CI job summary)",
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML report (the tab's view, no server) to FILE",
    )
    parser.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        help="exit with status 1 if any finding has this severity or above",
    )
    parser.add_argument(
        "--jobs",
        metavar="N",
        type=_positive,
        help="read and audit runs in N processes (default: one per CPU for logdirs of "
        "8 MB or more; json and markdown formats, local logdirs)",
    )
    for flag, (text, default) in patterns.FLAGS.items():
        parser.add_argument(
            "--" + flag.replace("_", "-"),
            metavar="REGEX",
            help=f"{text} (default: {default})".replace("%", "%%"),
        )
    return parser


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def run(argv, stdout=None, stderr=None):
    """Runs the command; returns the exit status. Never raises.

    Args:
      argv: the arguments after the program name.
      stdout, stderr: text streams (default: `sys.stdout`, `sys.stderr`).
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        parser = _parser()
        parser.stdout = stdout
        args = parser.parse_args(argv)
        text, failed = _audit(args, stderr)
        stdout.write(text)
        stdout.flush()
        return 1 if failed else 0
    except UsageError as e:
        stderr.write(f"{PROG}: error: {e}\n")
        return 2
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - never a traceback
        stderr.write(f"{PROG}: internal error: {type(e).__name__}: {e}\n")
        return 1


class _LogFormatter(logging.Formatter):
    """`tb-lr-audit: warning: ...`, like the command's own messages."""

    def format(self, record):
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def main():
    """The `tb-lr-audit` console script."""
    from tb_lr_plugin import loader

    # Readers log what they skip (a newer format version, malformed
    # metadata): one line each on stderr, in the command's style.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    loader.prefer_tensorboard_stub()
    _keep_freed_memory()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    code = run(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # Piped into `head`: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    try:
        sys.stderr.flush()
    except OSError:
        pass
    # Everything is written and closed, and the workers are reaped: the
    # interpreter's teardown (freeing every module and array, 20-30 ms of a
    # 0.4 s audit) would change nothing.
    os._exit(code)


# glibc's `mallopt` parameters (malloc.h) and the values the command sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 1 << 30
_MMAP_BYTES = 32 << 20  # glibc's largest


def _keep_freed_memory():
    """Makes glibc's malloc keep freed memory for the next allocations.

    Reading a file allocates buffers of its size (its bytes, the CRC's
    lanes) and frees them; by default glibc gives such blocks back to the
    kernel at once and the next file's are page-faulted in again, zeroed
    (`bench_audit`'s 200 runs: 0.3 s of kernel time, 0.13 s with this, of
    about 2 s of CPU). A short-lived command has no reason to give memory
    back before it exits. Elsewhere (not glibc)
    this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)
    except (OSError, AttributeError):  # no glibc (musl has no mallopt)
        pass


def _audit(args, stderr):
    try:
        options = patterns.options(args.lr_tag, args.loss_tag)
    except ValueError as e:
        raise UsageError(f"--lr-tag/--loss-tag: {e}") from None
    logdir = storage.local_path(args.logdir)
    if not storage.is_url(logdir):
        if not os.path.exists(logdir):
            raise UsageError(f"logdir {logdir!r} does not exist")
        if not os.path.isdir(logdir):
            raise UsageError(f"logdir {logdir!r} is not a directory")
        if not os.access(logdir, os.R_OK | os.X_OK):
            raise UsageError(f"logdir {logdir!r} is not readable")
    # The json and markdown outputs need only each run's audit: runs are
    # then audited where they are read, in parallel, and only that is kept.
    light = args.format in ("json", "markdown") and not args.html
    if light:
        # Imported before the readers fork, so that no worker imports them again.
        from tb_lr_plugin import audit, lr_finder  # noqa: F401
    reading = {"jobs": args.jobs, "per_run": _audited} if light else {}
    return _audit_loaded(args, _load(logdir, args.run or [], options, stderr, reading), stderr)


class _Audited(typing.NamedTuple):
    """One run's audit: what every output format needs of it."""

    name: str
    skipped: int
    events: list
    findings: list
    timing: object
    json: dict
    entry: object = None  # the `Run`, where the output needs its data


def _audited(entry, keep_entry=False):
    from tb_lr_plugin import audit, lr_finder

    events, findings = entry.events(), audit.find_run(entry)
    json_run = {
        "run": entry.run,
        "source": entry.source,
        "limits": entry.scalar.limits if entry.scalar is not None else [],
        "events": events,
        "findings": findings,
        "finder": lr_finder.range_tests(entry.data.finder),
    }
    return _Audited(
        entry.name,
        entry.data.skipped,
        events,
        findings,
        entry.timing,
        json_run,
        entry if keep_entry else None,
    )


def _load(logdir, runs, options, stderr, reading):
    """The selected runs of a local or URL logdir, failures as one-line usage errors."""
    from tb_lr_plugin import run_select
    from tb_lr_plugin.progress import Progress

    progress = Progress(stderr, f"{PROG}: loading {logdir}")
    try:
        return run_select.load(logdir, runs, progress=progress, options=options, **reading)
    except run_select.NoMatchError as e:
        raise UsageError(f"{e} with learning-rate data in {logdir!r}") from None
    except ValueError as e:
        raise UsageError(str(e).replace("log_dir ", "logdir ", 1)) from None
    except FileNotFoundError:
        raise UsageError(f"logdir {logdir!r} does not exist") from None
    except OSError as e:
        raise UsageError(f"logdir {logdir!r} is not readable ({e})") from None
    finally:
        progress.finish()


def _audit_loaded(args, found, stderr):
    logdir = args.logdir
    if found.damaged:
        names = ", ".join(_damage(p, found.damage_offsets, logdir) for p in found.damaged[:3])
        more = f" and {len(found.damaged) - 3} more" if len(found.damaged) > 3 else ""
        stderr.write(
            f"{PROG}: warning: skipped the unreadable part of {len(found.damaged)} truncated "
            f"or corrupt event file{'s' if len(found.damaged) != 1 else ''}: {names}{more}\n"
        )
    results = [
        r if isinstance(r, _Audited) else _audited(r, keep_entry=True) for r in found.runs.values()
    ]
    skipped = {r.name: r.skipped for r in results if r.skipped}
    if skipped:
        names = ", ".join(map(repr, list(skipped)[:3]))
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        stderr.write(
            f"{PROG}: warning: skipped {sum(skipped.values())} unreadable learning-rate records "
            f"or items in run{'s' if len(skipped) != 1 else ''} {names}{more}\n"
        )
    if not found.runs:
        raise UsageError(
            f"no learning-rate data in {logdir!r} (written by LearningRateLogger, Keras's "
            f"TensorBoard, Lightning's LearningRateMonitor, the Hugging Face Trainer, or a "
            f"scalar matching --lr-tag)"
        )
    return _render(args, logdir, found, results)


def _render(args, logdir, found, results):
    """`(text, failed)`: the output in `--format`, after the `--html` report."""
    if args.html:
        _write_html(args.html, found, logdir)
    failed = _fails((r.findings for r in results), args.fail_on)
    if args.format == "json":
        return _json(results), failed
    if args.format == "csv":
        return _csv(results), failed
    if args.format == "markdown":
        from tb_lr_plugin import markdown

        return markdown.render(logdir, [(r.name, r.events, r.findings) for r in results]), failed
    from tb_lr_plugin import text_table

    return text_table.render([(r.entry, r.events, r.findings, r.timing) for r in results]), failed


def _fails(findings, fail_on):
    """Whether a finding of these runs' (lists of findings) has the
    `--fail-on` severity or above."""
    if fail_on is None:
        return False
    floor = SEVERITIES.index(fail_on)
    return any(
        f.get("severity") in SEVERITIES and SEVERITIES.index(f["severity"]) >= floor
        for run_findings in findings
        for f in run_findings
    )


def _write_html(path, found, logdir):
    from tb_lr_plugin import html_report as report

    try:
        report.write_html(path, report.build(found, logdir=logdir))
    except report.BundleMissingError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {path!r}: {e.strerror or e}") from None


def _relative(path, logdir):
    if storage.is_url(path):
        return path.rsplit("/", 1)[-1]
    return os.path.relpath(path, logdir)


def _damage(path, offsets, logdir):
    """A damaged file, and the byte its first bad record starts at when known."""
    where = f" (from byte {offsets[path]})" if path in offsets else ""
    return _relative(path, logdir) + where


# -- json / csv -------------------------------------------------------------


def _json(results):
    body = {"runs": [r.json for r in results]}
    return json.dumps(formatting.strict_json(body), indent=1, allow_nan=False) + "\n"


def _csv(results):
    from tb_lr_plugin import export

    return export.to_csv((r.entry.run, r.entry.optimizers) for r in results)


if __name__ == "__main__":
    main()
