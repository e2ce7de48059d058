"""The leak hunt: which lines of this program hold more memory at every checkpoint.

``tracemalloc`` alone says *that* Python memory grew. This module says *where*: it takes
snapshots (at the caller's checkpoints or on a timer), fits a line through each allocation
site's size across them, and reports the sites that grow steadily (slope > 0 and r² at least
``min_r2``, as the monitor's ``leak_suspected`` judges RSS), with file:line, size, count and
growth per hour. Memory Python's allocators do not see is reported too: torch CPU tensors'
storage, attributed to the line that made each tensor (a ``TorchFunctionMode`` notes the
caller of every torch call while the check runs, on the thread that started it), and what is
left of the RSS growth after that (native: C extensions, other libraries), so the user knows
where to look next.

tracemalloc is started on demand and stopped again when memopt started it: the tracing state
the program had is the state it gets back. Tracing costs time on every Python allocation (see
bench/leaks_bench.py): hunt a leak with it, do not leave it on.
"""

from __future__ import annotations

import atexit
import functools
import json
import linecache
import os
import sys
import threading
import time
import tracemalloc
import types
import warnings
import weakref
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _memopt

__all__ = ["LeakCheck", "LeakReport", "LeakSite", "leak_check", "watch_leaks"]

_MIB = 1024.0 * 1024.0
_HOUR = 3600.0
_THIS_FILE = os.path.abspath(__file__)

# A site: the innermost frame of the allocation (file, line).
_Site = Tuple[str, int]


@dataclass
class LeakSite:
    """One allocation site whose memory grew steadily across the checkpoints."""

    #: Source file of the line that allocated.
    file: str
    #: Line number in ``file``.
    line: int
    #: ``"python"`` (traced by tracemalloc) or ``"native"`` (torch CPU tensor storage created
    #: at that line, which tracemalloc does not see).
    kind: str
    #: Bytes held at the last checkpoint.
    size_bytes: int
    #: Allocations (python) or tensors (native) held at the last checkpoint.
    count: int
    #: Bytes gained between the first checkpoint and the last.
    growth_bytes: int
    #: ``growth_bytes`` over the wall time between the first checkpoint and the last, per hour.
    growth_bytes_per_hour: float
    #: How well a straight line fits the sizes against the checkpoint number (1.0: the same
    #: growth at every checkpoint).
    r2: float
    #: The source line's text, when the file is readable.
    code: str = ""

    def as_dict(self) -> Dict[str, Any]:
        """The site as plain data, under the keys the cleanup socket's ``leaks`` answer uses."""
        return {
            _memopt.KEY_FILE: self.file,
            _memopt.KEY_LINE: self.line,
            _memopt.KEY_KIND: self.kind,
            _memopt.KEY_SIZE_BYTES: self.size_bytes,
            _memopt.KEY_COUNT: self.count,
            "growth_bytes": self.growth_bytes,
            _memopt.KEY_GROWTH_BYTES_PER_HOUR: self.growth_bytes_per_hour,
            _memopt.KEY_R2: self.r2,
            "code": self.code,
        }

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        text = (f"{where}  {self.kind}  {self.size_bytes / _MIB:.1f} MiB in {self.count} "
                f"{'tensors' if self.kind == 'native' else 'blocks'}, "
                f"+{self.growth_bytes_per_hour / _MIB:.1f} MiB/h (r2 {self.r2:.2f})")
        if self.kind == "native":
            text += " [torch CPU tensor storage: native memory]"
        if self.code:
            text += f"\n      {self.code}"
        return text


@dataclass
class LeakReport:
    """What leak_check() found between its first checkpoint and its last."""

    #: Steadily growing sites, largest growth first (at most ``top``).
    sites: List[LeakSite] = dataclasses.field(default_factory=list)
    #: How many checkpoints the fit used.
    checkpoints: int = 0
    #: Seconds between the first checkpoint and the last.
    duration_seconds: float = 0.0
    #: RSS at the last checkpoint minus RSS at the first.
    rss_growth_bytes: int = 0
    #: Growth of the memory tracemalloc traces (Python's allocators).
    python_growth_bytes: int = 0
    #: Growth of torch CPU tensors' storage (0 when torch is not loaded).
    torch_cpu_growth_bytes: int = 0
    #: The RSS growth neither explains: other native memory (C extensions, libraries, malloc
    #: keeping freed memory). Can be negative when memory was given back.
    unexplained_native_growth_bytes: int = 0
    #: Frames tracemalloc kept per allocation during the check.
    frames: int = 1

    @property
    def duration_s(self) -> float:
        """Deprecated spelling of ``duration_seconds`` (docs/naming.md), kept for one release."""
        return self.duration_seconds

    @property
    def suspected(self) -> bool:
        """Whether any site grows steadily."""
        return bool(self.sites)

    def as_dict(self) -> Dict[str, Any]:
        """The report as plain data (what the cleanup socket's ``leaks`` request sends). The keys
        memopt's C++ side reads are its own (``_memopt.KEY_*``); the others are this class's
        field names."""
        return {
            _memopt.KEY_SITES: [site.as_dict() for site in self.sites],
            _memopt.KEY_CHECKPOINTS: self.checkpoints,
            _memopt.KEY_DURATION_SECONDS: self.duration_seconds,
            _memopt.KEY_RSS_GROWTH_BYTES: self.rss_growth_bytes,
            _memopt.KEY_PYTHON_GROWTH_BYTES: self.python_growth_bytes,
            _memopt.KEY_TORCH_CPU_GROWTH_BYTES: self.torch_cpu_growth_bytes,
            _memopt.KEY_UNEXPLAINED_NATIVE_GROWTH_BYTES: self.unexplained_native_growth_bytes,
            "frames": self.frames,
            # The old key beside the new one for one release: older memopt binaries read only it.
            _memopt.KEY_DURATION_S: self.duration_seconds,
            "suspected": self.suspected,
        }

    def __str__(self) -> str:
        if self.checkpoints < 3:
            return (f"[memopt] leak check: {self.checkpoints} checkpoint(s) so far; "
                    "a steady growth needs at least 3")
        lines = [
            f"[memopt] leak check over {self.duration_seconds:.1f} s, {self.checkpoints} checkpoints: "
            f"RSS {self.rss_growth_bytes / _MIB:+.1f} MiB = Python {self.python_growth_bytes / _MIB:+.1f} MiB"
            f" + torch CPU tensors {self.torch_cpu_growth_bytes / _MIB:+.1f} MiB"
            f" + other native {self.unexplained_native_growth_bytes / _MIB:+.1f} MiB"
        ]
        if not self.sites:
            lines.append("  no allocation site grows steadily")
        for site in self.sites:
            lines.append(f"  {site}")
        return "\n".join(lines)


@dataclass
class _Checkpoint:
    time: float
    rss_bytes: int
    traced_bytes: int
    torch_cpu_bytes: int
    python: Dict[_Site, Tuple[int, int]]  # site -> (size, count)
    native: Dict[_Site, Tuple[int, int]]  # site -> (storage bytes, tensors)


# The checks running now, oldest first: the newest answers the cleanup socket's `leaks`
# request (memopt report --pid PID --leaks), so a server's leak can be read from outside.
_running_lock = threading.Lock()
_running: List["LeakCheck"] = []


def _answer_leaks_request() -> str:
    with _running_lock:
        check = _running[-1] if _running else None
    if check is None:
        return json.dumps({_memopt.KEY_ERROR: "no leak check is running"})
    check.checkpoint()  # the request is a checkpoint too: a fresh point for the fit
    return json.dumps(check.report().as_dict())


def _track_running(check: "LeakCheck", running: bool) -> None:
    with _running_lock:
        if running:
            _running.append(check)
        elif check in _running:
            _running.remove(check)
        any_left = bool(_running)
    _memopt.set_leak_reporter(_answer_leaks_request if any_left else None)


@atexit.register
def _forget_reporter() -> None:  # before the interpreter goes: the reporter calls into Python
    _memopt.set_leak_reporter(None)


def _fit(times: List[float], values: List[float]) -> Tuple[float, float]:
    """Least-squares slope and r² of values over times (or checkpoint numbers)."""
    n = len(times)
    mean_t = sum(times) / n
    mean_v = sum(values) / n
    stt = sum((t - mean_t) ** 2 for t in times)
    svv = sum((v - mean_v) ** 2 for v in values)
    stv = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values))
    if stt == 0:
        return 0.0, 0.0
    slope = stv / stt
    r2 = (stv * stv) / (stt * svv) if svv > 0 else 0.0
    return slope, r2


def _storage(tensor: Any) -> Optional[Tuple[int, int]]:
    """(data pointer, bytes) of a tensor's storage; None when it has none we can read."""
    try:
        if hasattr(tensor, "untyped_storage"):
            storage = tensor.untyped_storage()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                storage = tensor.storage()
        return storage.data_ptr(), storage.nbytes()
    except Exception:  # sparse, meta or otherwise storage-less tensors
        return None


class _TensorOrigins:
    """Where each live torch CPU tensor was made: the first line outside torch (and outside
    memopt) on the stack of the torch call that returned it, recorded through a
    ``TorchFunctionMode`` (which sees factory functions, methods and module calls alike).
    tracemalloc cannot say it: the storage is native, and CPython 3.11 cannot give the
    traceback of a tensor's Python object. Tensors are held weakly: recording keeps nothing
    alive."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self._skip = (os.path.dirname(os.path.abspath(torch.__file__)) + os.sep, _THIS_FILE)
        self._live: Dict[int, Tuple[Any, _Site]] = {}  # id(tensor) -> (weakref, site)
        origins = self

        def torch_function(mode: Any, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            origins._record(out)
            return out

        # A subclass of torch's own mode type, made at run time: memopt never imports torch.
        mode_type = type("Mode", (torch.overrides.TorchFunctionMode,),
                         {"__torch_function__": torch_function})
        self.mode = mode_type()

    @staticmethod
    def available(torch: Any) -> bool:
        return hasattr(getattr(torch, "overrides", None), "TorchFunctionMode")

    def _site(self) -> Optional[_Site]:
        frame: Optional[types.FrameType] = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if not name.startswith(self._skip[0]) and name != self._skip[1]:
                return (name, frame.f_lineno)
            frame = frame.f_back
        return None

    def _record(self, out: Any) -> None:
        tensors = out if isinstance(out, (tuple, list)) else (out,)
        site = None
        for tensor in tensors:
            if not isinstance(tensor, self._torch.Tensor) or tensor.device.type != "cpu":
                continue
            key = id(tensor)
            entry = self._live.get(key)
            if entry is not None and entry[0]() is tensor:
                continue  # an in-place op: made earlier
            site = site or self._site()
            if site is None:
                return
            self._live[key] = (weakref.ref(tensor, functools.partial(self._forget, key)), site)

    def _forget(self, key: int, ref: Any) -> None:
        entry = self._live.get(key)
        if entry is not None and entry[0] is ref:
            del self._live[key]

    def sites(self) -> Tuple[int, Dict[_Site, Tuple[int, int]]]:
        """Storage bytes of the live recorded tensors, in all and by site (a storage shared by
        views counts once, at the first site that made a tensor on it)."""
        seen = set()
        total = 0
        sites: Dict[_Site, Tuple[int, int]] = {}
        for ref, site in list(self._live.values()):
            tensor = ref()
            if tensor is None:
                continue
            storage = _storage(tensor)
            if storage is None or storage[0] in seen:
                continue
            seen.add(storage[0])
            total += storage[1]
            size, count = sites.get(site, (0, 0))
            sites[site] = (size + storage[1], count + 1)
        return total, sites


class LeakCheck:
    """A leak hunt in progress: see :func:`leak_check`.

    Call :meth:`checkpoint` at the same point of each iteration (after a request, a batch) or
    pass ``interval_s`` for a timer; :meth:`report` at any time; :meth:`stop` at the end.
    Thread-safe. Usable as a context manager (stops at the end of the block).
    """

    def __init__(
        self,
        *,
        frames: int = 1,
        top: int = 10,
        interval_s: Optional[float] = None,
        min_r2: float = 0.8,
        min_growth_bytes: int = 64 * 1024,
        torch_tensors: bool = True,
    ) -> None:
        if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= 100:
            raise ValueError(f"leak_check: frames must be a whole number from 1 to 100, got {frames!r}")
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise ValueError(f"leak_check: top must be a whole number >= 1, got {top!r}")
        if interval_s is not None and (not isinstance(interval_s, (int, float)) or interval_s <= 0):
            raise ValueError(f"leak_check: interval_s must be a positive number of seconds, got {interval_s!r}")
        if not 0.0 <= min_r2 <= 1.0:
            raise ValueError(f"leak_check: min_r2 must be between 0 and 1, got {min_r2!r}")
        self.top = top
        self.min_r2 = min_r2
        self.min_growth_bytes = min_growth_bytes
        self.torch_tensors = torch_tensors
        self._lock = threading.Lock()
        self._checkpoints: List[_Checkpoint] = []
        self._started_tracing = False
        self._stopped = False
        if tracemalloc.is_tracing():
            # Someone traces already: use their setting, and leave tracing on at the end.
            self.frames = tracemalloc.get_traceback_limit()
        else:
            tracemalloc.start(frames)
            self._started_tracing = True
            self.frames = frames
        self._origins: Optional[_TensorOrigins] = None
        torch = sys.modules.get("torch")
        if torch_tensors and torch is not None and _TensorOrigins.available(torch):
            self._origins = _TensorOrigins(torch)
            self._origins.mode.__enter__()
        _track_running(self, True)
        self._timer_stop = threading.Event()
        self._timer: Optional[threading.Thread] = None
        if interval_s is not None:
            self._timer = threading.Thread(
                target=self._tick, args=(float(interval_s),), name="memopt-leak-check", daemon=True)
            self._timer.start()

    def _tick(self, interval_s: float) -> None:
        while not self._timer_stop.wait(interval_s):
            try:
                self.checkpoint()
            except Exception:  # tracing stopped by someone else: nothing more to take
                return

    @property
    def tracing_started_here(self) -> bool:
        """Whether this check started tracemalloc (and so stops it at the end)."""
        return self._started_tracing

    @property
    def checkpoints(self) -> int:
        """How many checkpoints were taken."""
        with self._lock:
            return len(self._checkpoints)

    def checkpoint(self) -> None:
        """Takes a snapshot now: each site's traced size and count, RSS, and (when torch is
        loaded) the storage of its CPU tensors by creation line."""
        if self._stopped:
            raise RuntimeError("leak_check: checkpoint() after stop()")
        snapshot = tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, _THIS_FILE),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        ))
        python: Dict[_Site, Tuple[int, int]] = {}
        for stat in snapshot.statistics("lineno"):
            frame = stat.traceback[0]
            python[(frame.filename, frame.lineno)] = (stat.size, stat.count)
        torch_total, native = self._origins.sites() if self._origins else (0, {})
        point = _Checkpoint(
            time=time.monotonic(),
            rss_bytes=_memopt.rss_bytes_of_this_process(),
            traced_bytes=tracemalloc.get_traced_memory()[0],
            torch_cpu_bytes=torch_total,
            python=python,
            native=native,
        )
        with self._lock:
            self._checkpoints.append(point)

    def report(self) -> LeakReport:
        """The steadily growing sites so far (needs 3 checkpoints; fewer gives an empty one)."""
        with self._lock:
            points = list(self._checkpoints)
        report = LeakReport(checkpoints=len(points), frames=self.frames)
        if len(points) < 2:
            return report
        first, last = points[0], points[-1]
        report.duration_seconds = last.time - first.time
        report.rss_growth_bytes = last.rss_bytes - first.rss_bytes
        report.python_growth_bytes = last.traced_bytes - first.traced_bytes
        report.torch_cpu_growth_bytes = last.torch_cpu_bytes - first.torch_cpu_bytes
        report.unexplained_native_growth_bytes = (
            report.rss_growth_bytes - report.python_growth_bytes - report.torch_cpu_growth_bytes)
        if len(points) < 3:
            return report
        # Steadiness is judged per checkpoint (a request, a batch, a timer tick), not per
        # second: a loaded machine spacing checkpoints unevenly must not hide a leak that
        # grows by the same amount at each. The rate per hour is over the wall time.
        steps = [float(index) for index in range(len(points))]
        per_hour = _HOUR / report.duration_seconds if report.duration_seconds > 0 else 0.0
        sites: List[LeakSite] = []
        kinds: Tuple[Tuple[str, Callable[[_Checkpoint], Dict[_Site, Tuple[int, int]]]], ...] = (
            ("python", lambda p: p.python), ("native", lambda p: p.native))
        for kind, series_of in kinds:
            names = set(series_of(last))
            for site in names:
                sizes = [series_of(p).get(site, (0, 0))[0] for p in points]
                growth = sizes[-1] - sizes[0]
                if growth < self.min_growth_bytes:
                    continue
                slope, r2 = _fit(steps, [float(size) for size in sizes])
                if slope <= 0 or r2 < self.min_r2:
                    continue
                size, count = series_of(last)[site]
                sites.append(LeakSite(
                    file=site[0], line=site[1], kind=kind, size_bytes=size, count=count,
                    growth_bytes=growth, growth_bytes_per_hour=growth * per_hour, r2=r2,
                    code=linecache.getline(site[0], site[1]).strip()))
        sites.sort(key=lambda s: s.growth_bytes, reverse=True)
        report.sites = sites[: self.top]
        return report

    def stop(self) -> LeakReport:
        """Stops the timer and, when this check started it, tracemalloc (the program gets the
        tracing state it had back); returns the final report. Later calls return it again."""
        if self._timer is not None:
            self._timer_stop.set()
            self._timer.join()
            self._timer = None
        report = self.report()
        if not self._stopped:
            self._stopped = True
            _track_running(self, False)
            if self._origins is not None:
                self._origins.mode.__exit__(None, None, None)
            if self._started_tracing and tracemalloc.is_tracing():
                tracemalloc.stop()
        return report

    def __enter__(self) -> "LeakCheck":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def leak_check(
    *,
    frames: int = 1,
    top: int = 10,
    interval_s: Optional[float] = None,
    min_r2: float = 0.8,
    min_growth_bytes: int = 64 * 1024,
    torch_tensors: bool = True,
) -> LeakCheck:
    """Starts a leak hunt in this process and returns it::

        check = memopt.leak_check()
        for request in requests:
            handle(request)
            check.checkpoint()
        print(check.stop())     # the sites that grew at every checkpoint, file:line first

    ``frames``: frames tracemalloc keeps per allocation (1 is cheapest; the site is always the
    innermost). ``interval_s``: take checkpoints on a timer thread as well. A site is reported
    when it gained at least ``min_growth_bytes`` and a straight line fits its sizes with r² of
    ``min_r2`` or more; ``top`` bounds the list. ``torch_tensors`` (when the program imported
    torch): also attribute torch CPU tensors' storage to the lines that made them, through a
    ``TorchFunctionMode`` entered now on this thread and left at ``stop()`` (so call both on
    the same thread; tensors made on other threads count as other native memory). Raises
    ValueError for bad arguments.
    """
    return LeakCheck(frames=frames, top=top, interval_s=interval_s, min_r2=min_r2,
                     min_growth_bytes=min_growth_bytes, torch_tensors=torch_tensors)


class watch_leaks:
    """A leak hunt over a ``with`` block; the report is logged to stderr at its end::

        with memopt.watch_leaks(top=10) as check:
            for batch in batches:
                run(batch)
                check.checkpoint()
        report = check.report()

    Takes a checkpoint at the start and at the end of the block, plus the caller's and, with
    ``interval_s``, the timer's. ``log=False`` keeps stderr quiet. Arguments as leak_check().
    """

    def __init__(self, *, top: int = 10, frames: int = 1, interval_s: Optional[float] = None,
                 min_r2: float = 0.8, min_growth_bytes: int = 64 * 1024,
                 torch_tensors: bool = True, log: bool = True) -> None:
        self._arguments: Dict[str, Any] = dict(frames=frames, top=top, interval_s=interval_s, min_r2=min_r2,
                               min_growth_bytes=min_growth_bytes, torch_tensors=torch_tensors)
        self._log = log
        self.check: Optional[LeakCheck] = None
        #: The final report, after the block.
        self.report: Optional[LeakReport] = None

    def __enter__(self) -> LeakCheck:
        self.check = LeakCheck(**self._arguments)
        self.check.checkpoint()
        return self.check

    def __exit__(self, *exc: Any) -> None:
        assert self.check is not None
        self.check.checkpoint()
        self.report = self.check.stop()
        if self._log:
            print(self.report, file=sys.stderr, flush=True)

