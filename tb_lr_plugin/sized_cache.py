"""A cache bounded by the bytes of what it keeps, the least recently used going first.

What the plugin keeps of its answers (`view.Views`' JSON texts,
`responses.Gzipped`' compressed bytes) is bounded by size, not by count:
one long run's answer can weigh what a thousand short ones do.
"""

import collections
import threading


class SizedCache:
    """`key -> value`, at most `max_bytes` of them by the sizes given to `put`.

    The newest entry is always kept, however large; older ones go, least
    recently used first, until the rest fits. Thread-safe.

    Args:
      max_bytes: the most bytes kept (the sum of the sizes given to `put`).

    Example:
      >>> cache = SizedCache(10)
      >>> cache.put("a", "12345678", 8); cache.put("b", "xyz", 3)
      >>> cache.get("a") is None, cache.get("b")
      (True, 'xyz')
    """

    def __init__(self, max_bytes):
        self._max_bytes = max_bytes
        self._entries = collections.OrderedDict()  # key -> (value, size)
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self):
        with self._lock:
            return len(self._entries)

    def __iter__(self):
        """The keys kept, least recently used first (a snapshot)."""
        with self._lock:
            return iter(list(self._entries))

    def get(self, key, accept=None):
        """The value kept for `key` (then the most recently used), or `None`.

        Args:
          accept: `value -> bool`; a value it refuses counts as not kept.
        """
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or (accept is not None and not accept(hit[0])):
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def put(self, key, value, size):
        """Keeps `value` (of `size` bytes) for `key`, in place of what was kept for it."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self._max_bytes and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
