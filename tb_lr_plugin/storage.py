"""Log directories given as URLs (`gs://`, `s3://`, any fsspec URL).

The one place that tells a URL from a local path and finds the fsspec
filesystem for it, so that the writer, the callbacks and `tb-lr-audit`
agree: a URL is never taken for a local folder, and a URL whose filesystem
package is missing fails with one `ValueError` naming the extra to install.

The transport is deliberately thin: list a prefix's event files, read
objects, write an object. Everything above it (framing, the run model) is
shared with local logdirs.

`file://` URLs are plain local paths (`local_path`), so they keep the local
writer with its appends.
"""

import posixpath
import re

# A URL scheme as RFC 3986 spells it, followed by "://". One letter before
# the colon is a Windows drive ("C://x"), not a scheme.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")

# The extra of this package that installs a scheme's filesystem.
EXTRAS = {"gs": "gcs", "gcs": "gcs", "s3": "s3", "s3a": "s3"}


def scheme(path):
    """The URL scheme of `path` (lower case), or `None` for a local path."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    if not isinstance(path, str):
        return None
    match = _URL.match(path)
    return match.group(1).lower() if match else None


def is_url(path):
    """True if `path` is a URL other than `file://` (an object store)."""
    return scheme(path) not in (None, "file")


def local_path(path):
    """`path` with a `file://` prefix removed; other paths unchanged."""
    if scheme(path) == "file":
        return path[len("file://") :]
    return path


def filesystem(url):
    """The fsspec filesystem and the bare path of `url`.

    Creating the filesystem does not touch the network.

    Args:
      url: e.g. `"s3://bucket/logs/run1"`.

    Returns:
      `(fs, path)`; `path` has no scheme and no trailing slash.

    Raises:
      ValueError: the scheme is unknown, or its filesystem package (or
        fsspec itself) is not installed; the message names the extra.

    Example:
      >>> fs, path = filesystem("memory://logs/run1")
      >>> path
      '/logs/run1'
    """
    name = scheme(url)
    extra = EXTRAS.get(name)
    hint = f"pip install 'tb-lr-plugin[{extra}]'" if extra else "install its fsspec filesystem"
    try:
        import fsspec
        from fsspec.registry import known_implementations, registry
    except ImportError:
        raise ValueError(
            f"log_dir {url!r} is a {name}:// URL, which needs fsspec: {hint}"
        ) from None
    if name not in known_implementations and name not in registry:
        raise ValueError(
            f"log_dir {url!r} has an unknown URL scheme {name!r}: fsspec has no filesystem "
            f"for it (known: gs://, s3://, az://, hdfs://, memory://, ...)"
        )
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as e:
        raise ValueError(
            f"log_dir {url!r} needs the {name}:// filesystem, which is not installed ({e}): {hint}"
        ) from None
    return fs, path.rstrip("/") or path


def check(log_dir):
    """Raises `ValueError` now if `log_dir` is a URL no filesystem serves.

    Callbacks call this in their constructor, so a missing extra shows
    before training starts rather than after the first epoch.
    """
    if is_url(log_dir):
        filesystem(log_dir)


def join(url, *names):
    """`url` and `names` joined with `/` (object stores use `/` on every OS)."""
    return posixpath.join(url.rstrip("/"), *names)


def unstrip(fs, path):
    """The URL of a bare `path` of `fs` (as `find` returns them)."""
    return fs.unstrip_protocol(path)


def list_event_files(url):
    """Every event file under `url`, grouped by directory.

    Args:
      url: the logdir URL.

    Returns:
      `{run name: [(file URL, size), ...]}`: each directory's path relative
      to `url` as TensorBoard names runs (`.` for `url` itself, `/`
      between parts), files in name order (the order TensorBoard reads
      them in).

    Raises:
      FileNotFoundError: nothing exists under `url`.
    """
    fs, root = filesystem(url)
    # fsspec instances are shared per process and cache listings for
    # ever (s3fs drops only a path and its parents on request, not what is
    # below): a second look at a live run must list again.
    fs.invalidate_cache()
    found = fs.find(root, detail=True)
    if not found and not fs.exists(root):
        raise FileNotFoundError(url)
    dirs = {}
    for path, info in sorted(found.items()):
        if "tfevents" in posixpath.basename(path) and info.get("type", "file") == "file":
            name = posixpath.relpath(posixpath.dirname(path), root)
            dirs.setdefault(name, []).append((unstrip(fs, path), int(info.get("size") or 0)))
    return dirs


def read_many(urls, batch=32):
    """Yields `(url, bytes)` for each of `urls`, in order.

    Objects are fetched `batch` at a time with one concurrent `cat` (on an
    object store, latency per request dominates small event files).

    Args:
      urls: file URLs on one filesystem.
      batch: how many to fetch at once.

    Yields:
      `(url, data)`; `data` is `None` when that object could not be read.
    """
    if not urls:
        return
    fs, _ = filesystem(urls[0])
    for start in range(0, len(urls), batch):
        part = urls[start : start + batch]
        paths = [filesystem(u)[1] for u in part]
        try:
            got = fs.cat(paths, on_error="return")
        except Exception:  # noqa: BLE001 - reported per file below
            got = {}
        for url, path in zip(part, paths, strict=True):
            data = got.get(path)
            yield url, data if isinstance(data, bytes) else None
