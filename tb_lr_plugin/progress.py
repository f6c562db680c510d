"""Loading progress on stderr, for `tb-lr-audit` (and the HTML report's command)."""

import time


class Progress:
    """Prints loading progress on stderr once loading has taken over 1 s.

    On a terminal the line is redrawn in place; otherwise a line is printed
    at most every 5 s.
    """

    def __init__(self, stream, label, delay=1.0):
        self._stream = stream
        self._label = label
        self._start = time.monotonic()
        self._delay = delay
        self._last = None
        self._shown = False
        try:
            self._tty = stream.isatty()
        except (AttributeError, ValueError):
            self._tty = False

    def __call__(self, files_done, files_total, bytes_done, bytes_total):
        now = time.monotonic()
        if now - self._start < self._delay:
            return
        interval = 0.1 if self._tty else 5.0
        if self._last is not None and now - self._last < interval and files_done < files_total:
            return
        self._last = now
        pct = 100.0 * bytes_done / bytes_total if bytes_total else 100.0
        text = (
            f"{self._label}: {files_done}/{files_total} event files, "
            f"{bytes_done / 1e6:.1f}/{bytes_total / 1e6:.1f} MB ({pct:.0f}%)"
        )
        end = "" if self._tty else "\n"
        prefix = "\r" if self._tty else ""
        self._stream.write(prefix + text + end)
        self._stream.flush()
        self._shown = True

    def finish(self):
        if self._shown and self._tty:
            self._stream.write("\n")
            self._stream.flush()
