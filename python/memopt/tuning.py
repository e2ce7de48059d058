"""The seed's process settings applied to this running process (:func:`tune`), and its periodic
``gc.collect()`` with what it found (:class:`PeriodicCollector`)."""

from __future__ import annotations

import atexit
import gc
import os
import threading
from typing import Any, Dict, Optional, Tuple

from . import _memopt
from .errors import Error

__all__ = ["PeriodicCollector", "tune"]


class PeriodicCollector:
    """The seed's periodic ``gc.collect()``, on a daemon thread, with what it found: made by
    ``tune(gc_interval_s=...)``, one per process (a new one replaces the old). Thread-safe
    to read; :meth:`stop` ends it."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = float(interval_s)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._runs = 0
        self._last_collected: Optional[int] = None
        self._total_collected = 0
        self._thread = threading.Thread(target=self._run, name="memopt-periodic-gc", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            collected = gc.collect()
            with self._lock:
                self._runs += 1
                self._last_collected = collected
                self._total_collected += collected

    @property
    def interval_s(self) -> float:
        """Seconds between two collections."""
        return self._interval_s

    @property
    def runs(self) -> int:
        """How many collections it has run."""
        with self._lock:
            return self._runs

    @property
    def last_collected(self) -> Optional[int]:
        """Objects the latest collection found unreachable (``gc.collect()``'s count); None
        before the first."""
        with self._lock:
            return self._last_collected

    @property
    def total_collected(self) -> int:
        """Objects found unreachable by all its collections together."""
        with self._lock:
            return self._total_collected

    @property
    def running(self) -> bool:
        """True until :meth:`stop` (or the interpreter's exit) ends it."""
        return self._thread.is_alive() and not self._stopping.is_set()

    def status(self) -> Dict[str, Any]:
        """``interval_s``, ``runs``, ``last_collected``, ``total_collected`` and ``running`` in
        one dict, read together."""
        with self._lock:
            return {"interval_s": self._interval_s, "runs": self._runs,
                    "last_collected": self._last_collected,
                    "total_collected": self._total_collected, "running": self.running}

    def stop(self, timeout_s: Optional[float] = 5.0) -> None:
        """Stops the thread and waits for it (up to ``timeout_s``, a collection under way
        finishes first). Idempotent."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def __repr__(self) -> str:
        s = self.status()
        return (f"PeriodicCollector(every {s['interval_s']:g} s, {s['runs']} runs, last "
                f"{s['last_collected']}, total {s['total_collected']}, "
                f"{'running' if s['running'] else 'stopped'})")


_periodic_lock = threading.Lock()
_periodic: Optional[PeriodicCollector] = None


def tune(
    *,
    gc_threshold: Tuple[int, ...] = (700, 10, 10),
    trim_threshold_bytes: Optional[int] = 10000,
    arena_max: Optional[int] = 2,
    gc_interval_s: Optional[float] = None,
) -> Dict[str, Any]:
    """Applies the seed's process settings to this running process, and says what each did.

    ``gc.set_threshold(*gc_threshold)``; ``mallopt(M_TRIM_THRESHOLD, trim_threshold_bytes)``
    (what ``MALLOC_TRIM_THRESHOLD_`` does at start-up: free heap above it at the top goes back
    to the kernel at once); ``mallopt(M_ARENA_MAX, arena_max)`` (what ``MALLOC_ARENA_MAX``
    does: caps the arenas made from now on, not those already made). Environment variables set
    now would only reach child processes; ``mallopt`` reaches this one. ``None`` leaves a
    setting alone. Then a ``gc.collect()`` and a ``malloc_trim`` measure what the process
    holds needlessly right now.

    ``gc_interval_s`` (opt-in) also starts the seed's periodic ``gc.collect()``: a
    :class:`PeriodicCollector` thread collecting every that many seconds and counting what it
    found; a collector started earlier is stopped and replaced. ``None`` leaves a running one
    alone. Stop it with ``result["periodic_gc"].stop()``.

    Returns ``gc_threshold_before``/``gc_threshold`` (after), ``trim_threshold_bytes`` and
    ``arena_max`` (None when not applied), ``gc_collected`` (objects the collection found
    unreachable), ``rss_before_bytes``, ``rss_after_bytes``, ``rss_released_bytes`` and
    ``periodic_gc`` (the running :class:`PeriodicCollector`, or None).
    Raises ValueError for a bad value and :class:`Error` when glibc refuses one.
    """
    global _periodic
    if (not isinstance(gc_threshold, tuple) or not 1 <= len(gc_threshold) <= 3
            or not all(isinstance(v, int) and v >= 0 for v in gc_threshold)):
        raise ValueError(f"tune: gc_threshold must be a tuple of 1 to 3 whole numbers >= 0, "
                         f"got {gc_threshold!r}")
    for name, value in (("trim_threshold_bytes", trim_threshold_bytes), ("arena_max", arena_max)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"tune: {name} must be a whole number >= 1 or None, got {value!r}")
    if gc_interval_s is not None and (
            isinstance(gc_interval_s, bool) or not isinstance(gc_interval_s, (int, float))
            or not gc_interval_s > 0 or gc_interval_s == float("inf")):
        raise ValueError(f"tune: gc_interval_s must be a number of seconds > 0 or None, "
                         f"got {gc_interval_s!r}")
    rss_before = _memopt.rss_bytes_of_this_process()
    result: Dict[str, Any] = {"gc_threshold_before": gc.get_threshold()}
    gc.set_threshold(*gc_threshold)
    result["gc_threshold"] = gc.get_threshold()
    if trim_threshold_bytes is not None and not _memopt.set_malloc_trim_threshold(trim_threshold_bytes):
        raise Error(f"tune: glibc refused M_TRIM_THRESHOLD={trim_threshold_bytes}")
    result["trim_threshold_bytes"] = trim_threshold_bytes
    if arena_max is not None and not _memopt.set_malloc_arena_max(arena_max):
        raise Error(f"tune: glibc refused M_ARENA_MAX={arena_max}")
    result["arena_max"] = arena_max
    result["gc_collected"] = gc.collect()
    _memopt.malloc_trim()
    rss_after = _memopt.rss_bytes_of_this_process()
    result["rss_before_bytes"] = rss_before
    result["rss_after_bytes"] = rss_after
    result["rss_released_bytes"] = rss_before - rss_after
    with _periodic_lock:
        if gc_interval_s is not None:
            if _periodic is not None:
                _periodic.stop()
            _periodic = PeriodicCollector(gc_interval_s)
        result["periodic_gc"] = _periodic if _periodic is not None and _periodic.running else None
    return result


def _stop_periodic() -> None:
    # Before the interpreter goes: the collector's thread runs Python.
    global _periodic
    with _periodic_lock:
        if _periodic is not None:
            _periodic.stop()
            _periodic = None


def _after_fork_in_child() -> None:
    # Only the forking thread exists in a forked child: the collector's thread is the parent's,
    # and a lock another thread held at the fork would stay held forever.
    global _periodic_lock, _periodic
    _periodic_lock = threading.Lock()
    _periodic = None


atexit.register(_stop_periodic)
os.register_at_fork(after_in_child=_after_fork_in_child)
