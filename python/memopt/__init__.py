"""memopt for Python: the memory of this process and of its container, told truthfully.

The seed's names work as written::

    from memopt import cleanup_gpu_memory, monitor_memory_usage

    cleanup_gpu_memory(); monitor_memory_usage("before_inference")
    result = model(data)
    cleanup_gpu_memory(); monitor_memory_usage("after_inference")

Measurements come from the C++ library (``memopt._memopt``); this layer adds what belongs to
Python: the garbage collector, torch's CUDA caching allocator (only when the program imported
torch itself: memopt never imports it), context managers and thread-safe lazy loading.
Bad arguments raise ValueError or TypeError at the call (a bad value the library itself
refuses, such as a size that does not parse, raises :class:`UsageError`: both an
:class:`Error` and a ValueError); every failure of the library raises :class:`Error` with its
message. To find a leak, :func:`leak_check` (or :class:`watch_leaks`)
names the lines whose memory grows at every checkpoint, native torch tensors included.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import signal
import sys
import threading
import warnings
from typing import Any, Callable, Optional, Union

from . import _memopt
from ._memopt import Error, UsageError
from .leaks import LeakCheck, LeakReport, leak_check, watch_leaks
from .loops import MemoryForecastError, MemoryForecastWarning, forecast
from .protect import (
    MemoryBusy,
    admit,
    admitted_bytes,
    learned_bytes,
    on_pressure,
    register_shed_hook,
    shed,
    unregister_shed_hook,
)

#: memopt's version (CMake's project(VERSION), the same as ``memopt --version``).
__version__: str = _memopt.__version__
#: The git commit memopt was built from ("-dirty" with local changes; "unknown" outside git).
__revision__: str = _memopt.__revision__

__all__ = [
    "Error",
    "LazyModelLoader",
    "LeakCheck",
    "LeakReport",
    "MemoryBusy",
    "MemoryForecastError",
    "MemoryForecastWarning",
    "ModelCache",
    "Monitor",
    "PeriodicCollector",
    "UsageError",
    "admit",
    "admitted_bytes",
    "cleanup_gpu_memory",
    "forecast",
    "leak_check",
    "learned_bytes",
    "monitor_memory_usage",
    "on_pressure",
    "parse_size",
    "register_cleanup_hook",
    "register_shed_hook",
    "report",
    "serve_cleanup",
    "shed",
    "track",
    "tune",
    "unregister_cleanup_hook",
    "unregister_shed_hook",
    "watch_leaks",
]

_MIB = 1024.0 * 1024.0
_log = logging.getLogger("memopt")


def _require_callable(what: str, value: Any) -> None:
    """Raises TypeError, in plain words, when ``value`` cannot be called."""
    if not callable(value):
        raise TypeError(f"{what} must be callable (a function taking no arguments), "
                        f"got {type(value).__name__}: {value!r}")


def report(
    *,
    procfs: Optional[str] = None,
    sysfs: Optional[str] = None,
    model: Optional[str] = None,
    top: int = 5,
    cgroup: Optional[str] = None,
    pid: Optional[int] = None,
    config: Optional[str] = None,
) -> dict:
    """The container's memory as ``memopt report --json`` gives it (schema ``memopt.report/1``).

    ``cgroup``/``pid`` name the target as ``--cgroup``/``--pid`` do (a sidecar watching the
    model's container; ``cgroup="/"`` is the host); by default, this process's own cgroup.
    ``procfs``/``sysfs`` read another tree (tests, captured fixtures); ``model`` compares the
    limit with a perception model's measured minimum, as ``--model`` does; ``top`` is how many
    processes the report lists (0 or more). ``config`` is the TOML file whose thresholds give
    the level, as ``memopt --config FILE report`` reads it; by default ``$MEMOPT_CONFIG``, else
    none (the default thresholds).

    Raises ValueError for a negative ``top``, TypeError for arguments of the wrong type,
    :class:`UsageError` for a config that cannot be read or parsed (naming the file and line),
    and :class:`Error` for an unknown ``model`` (the message lists the known ones) or when the
    memory cannot be read.
    """
    if not isinstance(top, int) or isinstance(top, bool):
        raise TypeError(f"report(top=...) must be a whole number, got {type(top).__name__}")
    if top < 0:
        raise ValueError(f"report(top={top}): the number of processes to list cannot be negative")
    for name, value in (("procfs", procfs), ("sysfs", sysfs), ("model", model), ("cgroup", cgroup),
                        ("config", config)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"report({name}=...) must be a string, got {type(value).__name__}")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise TypeError(f"report(pid=...) must be a process id (int), got {type(pid).__name__}")
    return json.loads(
        _memopt.report_json(
            procfs=procfs, sysfs=sysfs, model=model, top=top, cgroup=cgroup, pid=pid,
            config=config,
        )
    )


class Monitor:
    """memopt's monitor engine on a background thread: the same engine ``memopt monitor`` runs.

    It watches the target (``cgroup``/``pid`` as ``--cgroup``/``--pid``; by default this
    process's own cgroup), alerts within a second of a threshold crossing, and calls
    ``on_event(event)`` for each event (``level_changed``, ``oom_kill``, ``pressure``,
    ``leak_suspected``, ``oom_forecast``, ``cleanup``, ``hook_failed``: the dicts
    ``memopt monitor --json`` prints) and ``on_sample(report)`` every ``interval_s`` seconds
    with a ``memopt.report/1`` dict. Callbacks run on the monitor's thread; an exception in
    one is reported as unraisable and the watch goes on. ``level`` is the level every output
    agrees on. ``config`` is the TOML file ``memopt monitor`` reads (by default
    ``$MEMOPT_CONFIG``, else none); ``interval_s`` overrides its ``[monitor] interval_s``
    (default 60). Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        *,
        cgroup: Optional[str] = None,
        pid: Optional[int] = None,
        interval_s: Optional[int] = None,
        config: Optional[str] = None,
        on_event: Optional[Callable[[dict], Any]] = None,
        on_sample: Optional[Callable[[dict], Any]] = None,
        procfs: Optional[str] = None,
        sysfs: Optional[str] = None,
    ) -> None:
        if interval_s is not None and (
            not isinstance(interval_s, int) or isinstance(interval_s, bool) or interval_s < 1
        ):
            raise ValueError(f"interval_s must be a whole number of seconds >= 1, got {interval_s!r}")
        for name, callback in (("on_event", on_event), ("on_sample", on_sample)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be callable, got {type(callback).__name__}")
        self._impl = _memopt.Monitor(
            cgroup=cgroup,
            pid=pid,
            interval_s=interval_s,
            config=config,
            procfs=procfs,
            sysfs=sysfs,
            on_event=(lambda text: on_event(json.loads(text))) if on_event else None,
            on_sample=(lambda text: on_sample(json.loads(text))) if on_sample else None,
        )

    def start(self) -> "Monitor":
        """Starts watching on a background thread."""
        self._impl.start()
        return self

    def stop(self) -> None:
        """Stops watching and waits for the thread; raises :class:`Error` if reading failed."""
        self._impl.stop()

    @property
    def level(self) -> str:
        """The current level: normal, acceptable, warning, severe, danger or unknown."""
        return self._impl.level

    @property
    def running(self) -> bool:
        """Whether the background thread is watching."""
        return self._impl.running

    def __enter__(self) -> "Monitor":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def parse_size(text: str) -> int:
    """Bytes in a size string: ``"1.5G"``, ``"512Mi"``, ``"1Gi"``, ``"2g"``, ``"4096"``.

    The C++ core's one size parser (the one ``--limit`` uses): units are binary whatever the
    spelling (``1G == 1Gi == 2**30``, as Docker reads ``--memory=1g``), Kubernetes' ``Ki``, ``Mi``,
    ``Gi``, ``Ti``, ``Pi``, ``Ei`` included. A bad size raises :class:`UsageError`, a
    ValueError (and an :class:`Error`).
    """
    return _memopt.parse_size(text)


def _torch_cuda():
    """torch.cuda when the program imported torch and has used CUDA in this process, else None.

    Asking an unused CUDA whether it is available would create a context (hundreds of MiB of
    GPU memory) to free nothing, so an uninitialized CUDA counts as none.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return None
    return cuda


def _torch_memory() -> Optional[tuple]:
    """(allocated, reserved) bytes of torch's CUDA allocator over all devices, when in use."""
    cuda = _torch_cuda()
    if cuda is None:
        return None
    devices = range(cuda.device_count())
    return (
        sum(cuda.memory_allocated(d) for d in devices),
        sum(cuda.memory_reserved(d) for d in devices),
    )


def monitor_memory_usage(
    tag: str, *, gpu: bool = True, log: bool = True, detail: bool = False
) -> dict:
    """Measures this process now and logs one line to stderr, like the seed's.

    Returns ``tag``, ``rss_bytes`` (``/proc/self/statm``), ``delta_rss_bytes`` (against the
    previous call, 0 the first time), ``heap_in_use_bytes`` (malloc'd and not freed),
    ``heap_free_resident_bytes`` (freed, kept by malloc and still resident: what a
    ``malloc_trim`` could give back; measured at most once a second unless ``detail=True``),
    ``heap_free_bytes`` (mallinfo2's fordblks: every free
    chunk malloc keeps, including pages already returned to the kernel), ``gpu_used_bytes``
    (NVML for this pid; None without a GPU), ``pss_bytes``/``uss_bytes`` (only with
    ``detail=True``, else None) and, when torch uses CUDA here, ``torch_allocated_bytes`` and
    ``torch_reserved_bytes`` (None otherwise).

    The default call costs microseconds: NVML is loaded once and kept. ``detail=True`` also
    reads ``/proc/self/smaps_rollup``, whose page walk costs milliseconds in a large process,
    and measures the resident free heap now;
    ``gpu=False`` skips NVML.
    """
    if not isinstance(tag, str):
        raise TypeError(f"monitor_memory_usage: tag must be a string, got {type(tag).__name__}")
    usage = _memopt.monitor_memory_usage(tag, gpu, detail)
    line = usage.pop("line")
    torch_memory = _torch_memory()
    usage["torch_allocated_bytes"] = torch_memory[0] if torch_memory else None
    usage["torch_reserved_bytes"] = torch_memory[1] if torch_memory else None
    if torch_memory:
        line += ", torch allocated {:.1f} MiB, reserved {:.1f} MiB".format(
            torch_memory[0] / _MIB, torch_memory[1] / _MIB
        )
    if log:
        print(line, file=sys.stderr, flush=True)
    return usage


def _torch_stats() -> str:
    """What a ``stats`` request on the cleanup socket says of torch: a JSON array with one object
    per CUDA device where torch holds memory in this process (allocated, reserved, peak, UUID).
    Empty when torch has not initialised CUDA here; it is never initialised for this. Also records
    torch.__version__ for the answer's "torch_version" when torch is imported (diagnose advises
    only the allocator settings that version knows)."""
    torch = sys.modules.get("torch")
    version = getattr(torch, "__version__", None) if torch is not None else None
    _memopt.set_torch_version(str(version) if version is not None else "")
    cuda = _torch_cuda()
    devices = []
    for device in range(cuda.device_count()) if cuda is not None else ():
        allocated = cuda.memory_allocated(device)
        reserved = cuda.memory_reserved(device)
        if reserved == 0 and allocated == 0:
            continue
        entry = {
            "device": device,
            "allocated_bytes": allocated,
            "reserved_bytes": reserved,
            "peak_allocated_bytes": cuda.max_memory_allocated(device),
        }
        uuid = getattr(cuda.get_device_properties(device), "uuid", None)
        if uuid is not None:
            entry["uuid"] = str(uuid)
        devices.append(entry)
    return json.dumps(devices)


_memopt.set_torch_stats_provider(_torch_stats)


# What the Python hook did in the latest cleanup, for cleanup_gpu_memory()'s answer.
_python_cleanup_lock = threading.Lock()
_python_cleanup_last: dict = {}


def _python_cleanup() -> None:
    """The cleanup hook every memopt cleanup runs first in this process: the collector, then
    torch's CUDA caches when torch uses CUDA. Registered at import, so that ``memopt cleanup``
    from outside (see serve_cleanup) does the same as cleanup_gpu_memory()."""
    collected = gc.collect()
    torch_steps = []
    cuda = _torch_cuda()
    # Only the devices where this process holds memory: synchronising any other would create
    # a context there, and the current device (0 on a new thread, e.g. serve_cleanup's) may
    # be one this process never used.
    devices = [] if cuda is None else [
        d for d in range(cuda.device_count()) if cuda.memory_reserved(d) > 0]
    if devices:
        for device in devices:
            cuda.synchronize(device)
        cuda.empty_cache()
        cuda.ipc_collect()
        torch_steps = [f"synchronize:{d}" for d in devices] + ["empty_cache", "ipc_collect"]
    with _python_cleanup_lock:
        _python_cleanup_last.clear()
        _python_cleanup_last.update(gc_collected=collected, torch_steps=torch_steps)


_HOOK_NAME = "python"
_hooks_lock = threading.Lock()
_hook_names: set = set()  # the hooks registered from Python, let go of at exit
_memopt.register_cleanup_hook(_HOOK_NAME, _python_cleanup)


def register_cleanup_hook(name: str, hook: Callable[[], Any]) -> None:
    """Runs ``hook()`` at every cleanup of this process, after memopt's own Python step and
    before the CUDA pools and malloc_trim; the same name again replaces it. A hook that raises
    is reported as a failed step whose ``reason`` is the exception's one line
    (``"RuntimeError: no device"``; the traceback goes to the ``memopt`` logger) and the others
    still run. Raises TypeError when ``name`` is not a string or ``hook`` is not callable."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_cleanup_hook: name must be a non-empty string, got {name!r}")
    _require_callable("register_cleanup_hook: hook", hook)
    if name == _HOOK_NAME:
        raise Error(f"cleanup hook name '{name}' is memopt's own")

    def logged() -> None:
        try:
            hook()
        except Exception:
            _log.exception("cleanup hook %r failed", name)
            raise

    _memopt.register_cleanup_hook(name, logged)
    with _hooks_lock:
        _hook_names.add(name)


def unregister_cleanup_hook(name: str) -> bool:
    """Removes the hook ``name``; False when none had that name."""
    with _hooks_lock:
        _hook_names.discard(name)
    return _memopt.unregister_cleanup_hook(name)


def cleanup_gpu_memory() -> dict:
    """The seed's cleanup, made to return memory: ``gc.collect()``; when torch uses CUDA,
    ``torch.cuda.synchronize()``, ``empty_cache()`` and ``ipc_collect()``; registered hooks;
    the CUDA runtime's memory pools; ``malloc_trim(0)``.

    Returns ``gc_collected``, ``torch_steps`` (the torch.cuda calls made, in order: empty when
    torch does not use CUDA here), ``rss_released_bytes`` (RSS before minus after, all steps),
    ``gpu_released_bytes`` (NVML's figure for this pid, before minus after; None without a GPU),
    ``torch_reserved_released_bytes`` (None when torch does not use CUDA), ``rss_before_bytes``,
    ``rss_after_bytes``, ``heap_free_resident_before_bytes`` and
    ``heap_free_resident_after_bytes`` (malloc's freed heap still resident, what malloc_trim
    could return, as in monitor_memory_usage; pages already given back are not counted) and the
    C++ ``steps`` with what each released.
    """
    return _cleanup()


_UNMEASURED = object()


def _cleanup(rss_before: Optional[int] = None, gpu_before: Any = _UNMEASURED) -> dict:
    """cleanup_gpu_memory(), its figures counted from ``rss_before``/``gpu_before`` when the
    caller measured them before a step of its own (unload_model: before dropping the model)."""
    if gpu_before is _UNMEASURED:
        gpu_before = _memopt.gpu_bytes_of_this_process()
    torch_before = _torch_memory()
    result = _memopt.cleanup()
    if rss_before is not None:
        result["rss_before_bytes"] = rss_before
    gpu_after = _memopt.gpu_bytes_of_this_process() if gpu_before is not None else None
    torch_after = _torch_memory()
    with _python_cleanup_lock:
        python_step = dict(_python_cleanup_last)
    result["gc_collected"] = python_step.get("gc_collected")
    result["torch_steps"] = python_step.get("torch_steps", [])
    result["rss_released_bytes"] = result["rss_before_bytes"] - result["rss_after_bytes"]
    result["gpu_released_bytes"] = (
        gpu_before - gpu_after if gpu_before is not None and gpu_after is not None else None
    )
    result["torch_reserved_released_bytes"] = (
        torch_before[1] - torch_after[1] if torch_before and torch_after else None
    )
    return result


class _LoadAttempt:
    """One run of a LazyModelLoader's load_fn, shared by the callers that wait for it."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.done = threading.Event()
        self.model = None
        self.error: Optional[BaseException] = None


class LazyModelLoader:
    """The seed's lazy loader, made correct: ``load_fn`` runs once, on the first ``.model``,
    however many threads ask at once; ``unload_model()`` drops the reference and returns the
    memory (collector, CUDA caches, malloc_trim). Callers holding the model keep it alive.
    Raises TypeError when ``load_fn`` is not callable."""

    def __init__(self, load_fn: Callable[[], Any]):
        _require_callable("LazyModelLoader: load_fn", load_fn)
        self._load_fn = load_fn
        self._lock = threading.Lock()
        self._model = None
        self._loads = 0
        self._attempt = None  # the load in flight: callers that come meanwhile share its outcome

    @property
    def model(self) -> Any:
        """The model, loading it first when needed (once, whatever the number of threads).
        A failing ``load_fn`` raises its exception to every caller waiting for that load; the
        next access tries again."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is not None:
                return self._model
            attempt = self._attempt
            if attempt is None:
                attempt = self._attempt = _LoadAttempt()
                mine = True
            else:
                mine = False
        if not mine:
            if attempt.thread == threading.get_ident():
                raise Error("LazyModelLoader: load_fn asked for the model it is loading "
                            "(it would wait for itself forever)")
            # One attempt, one outcome: a failing load_fn is not run again by each waiter.
            attempt.done.wait()
            if attempt.error is not None:
                raise attempt.error
            return attempt.model
        try:
            model = self._load_fn()
            if model is None:
                raise Error("LazyModelLoader: load_fn returned None")
            attempt.model = model
            with self._lock:
                self._model = model
                self._loads += 1
        except BaseException as error:
            attempt.error = error
            raise
        finally:
            with self._lock:
                self._attempt = None
            attempt.done.set()
        return model

    def unload_model(self) -> Optional[dict]:
        """Drops the model and cleans up. Returns cleanup_gpu_memory()'s answer, its RSS and
        GPU figures measured from before the model was dropped (None when none was loaded).
        Memory comes back only when no other reference to the model is left."""
        with self._lock:
            model, self._model = self._model, None
        if model is None:
            return None
        rss_before = _memopt.rss_bytes_of_this_process()
        gpu_before = _memopt.gpu_bytes_of_this_process()
        del model
        return _cleanup(rss_before, gpu_before)

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded now."""
        return self._model is not None

    @property
    def loads(self) -> int:
        """How many times load_fn ran."""
        return self._loads


class ModelCache:
    """Named models under a memory budget, backed by the C++ cache.

    Each model's cost is measured (the process's RSS across its loader), not declared. Over
    budget, the least recently used models nobody is using are dropped and malloc_trim runs,
    also as soon as a ``use()`` block ends. A model that alone costs more than the budget is
    not kept: loading it raises :class:`Error`. A shed request (``memopt monitor --protect``)
    evicts every model not in use. ``get(name)`` returns the model; ``with cache.use(name) as
    model:`` also marks it in use, so it is never evicted inside the block. A budget that is
    not a size string or a whole number raises TypeError; a size string that does not parse
    (:class:`UsageError`) or one outside 1..2**64-1, ValueError. ``loaded`` is a property, as
    on :class:`LazyModelLoader` (calling it, ``loaded()``, still works but is deprecated).
    """

    def __init__(self, budget: Union[int, str]):
        if isinstance(budget, str):
            budget_bytes = parse_size(budget)
        elif isinstance(budget, bool) or not isinstance(budget, int):
            raise TypeError(
                f"ModelCache: the budget must be a size such as '2G' or a whole number of "
                f"bytes, not {type(budget).__name__} {budget!r}"
            )
        else:
            budget_bytes = budget
        if not 0 < budget_bytes < 2**64:
            raise ValueError(
                f"ModelCache: the budget must be between 1 and 2**64 - 1 bytes, not {budget!r}"
            )
        self._cache = _memopt.ModelCache(budget_bytes)
        self._names: set = set()

    def add(self, name: str, loader: Callable[[], Any], *, replace: bool = False) -> None:
        """Registers how to load ``name``. A name already registered raises ValueError unless
        ``replace=True`` (which replaces the loader when the model is not loaded): two models
        added under one name are almost always a mistake, and ``get()`` would silently hand
        back the other one."""
        if name in self._names and not replace:
            raise ValueError(
                f"ModelCache.add: a model named {name!r} is already registered; use another "
                f"name, or add(..., replace=True) to replace its loader"
            )
        self._cache.add(name, loader)
        self._names.add(name)

    def get(self, name: str) -> Any:
        """The model, loaded when needed. Raises Error for an unknown name; a loader's own
        exception reaches the caller as raised."""
        return self._cache.get(name)

    def use(self, name: str) -> "_ModelInUse":
        return _ModelInUse(self._cache.use(name))

    def evict(self, name: str) -> bool:
        """Drops ``name`` now when it is loaded and not in use."""
        return self._cache.evict(name)

    def cost_bytes(self, name: str) -> Optional[int]:
        return self._cache.cost_bytes(name)

    @property
    def used_bytes(self) -> int:
        return self._cache.used_bytes

    @property
    def budget_bytes(self) -> int:
        return self._cache.budget_bytes

    @property
    def loaded(self) -> "_LoadedNames":
        """Loaded names, most recently used first (a list). A property, like
        :attr:`LazyModelLoader.loaded`; the older call ``loaded()`` still works, deprecated."""
        return _LoadedNames(self._cache.loaded())

    def evictions(self) -> list:
        """Evicted names, oldest first."""
        return self._cache.evictions()


class _LoadedNames(list):
    """ModelCache.loaded: a list that may still be called as the method it once was."""

    def __call__(self) -> list:
        warnings.warn(
            "ModelCache.loaded() is deprecated: loaded is a property (cache.loaded), as on "
            "LazyModelLoader",
            DeprecationWarning,
            stacklevel=2,
        )
        return list(self)


class _ModelInUse:
    def __init__(self, handle):
        self._handle = handle

    def __enter__(self):
        return self._handle.model

    def __exit__(self, *exc):
        self._handle.release()
        return False


class track:
    """Measures the code in a ``with`` block::

        with memopt.track() as t:
            run_inference()
        print(t.peak_increase_bytes)

    After the block: ``start_rss_bytes``, ``end_rss_bytes``, ``peak_rss_bytes`` (the process's
    highest RSS inside the block, every thread counted) and ``peak_increase_bytes`` (peak minus
    start). The peak comes from a background thread sampling ``/proc/self/statm`` every 0.5 ms
    while any block is open, raised to the kernel's VmHWM when the block set a new lifetime
    peak (then it is exact); a spike shorter than 0.5 ms below an earlier lifetime peak can be
    missed. Nothing is reset: VmHWM, ``getrusage().ru_maxrss``, torch's peak statistics and
    other ``track()`` blocks (nested, or on other threads) keep their own figures.

    When torch uses CUDA: ``gpu_peak_allocated_bytes`` and ``gpu_peak_increase_bytes`` (torch's
    allocator, summed over devices; None otherwise). On a device where the block set a new
    ``max_memory_allocated`` the figure is exact; elsewhere it is the larger of the start and
    end figures and ``gpu_peak_is_lower_bound`` is True (torch keeps one peak per process, and
    resetting it would erase everyone else's).
    """

    def __init__(self):
        self.start_rss_bytes: Optional[int] = None
        self.end_rss_bytes: Optional[int] = None
        self.peak_rss_bytes: Optional[int] = None
        self.peak_increase_bytes: Optional[int] = None
        self.gpu_peak_allocated_bytes: Optional[int] = None
        self.gpu_peak_increase_bytes: Optional[int] = None
        self.gpu_peak_is_lower_bound: Optional[bool] = None
        self._tracker = None
        self._gpu_start = None  # per device: (allocated, max_memory_allocated)

    def __enter__(self) -> "track":
        cuda = _torch_cuda()
        if cuda is not None:
            self._gpu_start = [
                (cuda.memory_allocated(d), cuda.max_memory_allocated(d))
                for d in range(cuda.device_count())
            ]
        self._tracker = _memopt.Tracker()
        return self

    def __exit__(self, *exc) -> bool:
        result = self._tracker.result()
        self._tracker = None  # closes the scope: the sampler stops counting it
        self.start_rss_bytes = result["start_rss_bytes"]
        self.end_rss_bytes = result["end_rss_bytes"]
        self.peak_rss_bytes = result["peak_rss_bytes"]
        self.peak_increase_bytes = max(self.peak_rss_bytes - self.start_rss_bytes, 0)
        cuda = _torch_cuda()
        if cuda is not None and self._gpu_start is not None:
            peak = 0
            lower_bound = False
            for device, (start, start_max) in enumerate(self._gpu_start):
                end, end_max = cuda.memory_allocated(device), cuda.max_memory_allocated(device)
                if end_max > start_max:
                    peak += end_max
                else:
                    peak += max(start, end)
                    lower_bound = True
            self.gpu_peak_allocated_bytes = peak
            self.gpu_peak_increase_bytes = peak - sum(start for start, _ in self._gpu_start)
            self.gpu_peak_is_lower_bound = lower_bound
        return False


class PeriodicCollector:
    """The seed's periodic ``gc.collect()``, on a daemon thread, with what it found: made by
    ``tune(gc_interval_s=...)``, one per process (a new one replaces the old). Thread-safe
    to read; :meth:`stop` ends it."""

    def __init__(self, interval_s: float):
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

    def status(self) -> dict:
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
    gc_threshold: tuple = (700, 10, 10),
    trim_threshold_bytes: Optional[int] = 10000,
    arena_max: Optional[int] = 2,
    gc_interval_s: Optional[float] = None,
) -> dict:
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
    result = {"gc_threshold_before": gc.get_threshold()}
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


_server_lock = threading.Lock()
_server = None


def serve_cleanup() -> str:
    """Lets ``memopt cleanup`` from outside reach this process: a background thread listens on
    ``<runtime dir>/<pid>.sock`` (0600; same user or root only) and runs the same cleanup as
    cleanup_gpu_memory() on request. Idempotent; returns the socket's path.

    The socket goes when the process exits normally, and also when SIGTERM ends it with the
    default action (``docker stop``): while SIGTERM's handler is the default one, called from
    the main thread, a handler is installed that removes the socket and then dies by SIGTERM
    exactly as before. A handler of the program's own is left alone (one that exits through
    ``sys.exit`` removes the socket at exit); the next server removes sockets of dead processes
    in any case."""
    global _server
    with _server_lock:
        if _server is None:
            _server = _memopt.serve_cleanup()
            _remove_socket_on_sigterm()
        return _server.socket_path


_server_pid: Optional[int] = None  # the process whose SIGTERM removes the socket


def _remove_socket_on_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _sigterm_default)
        global _server_pid
        _server_pid = os.getpid()
    except (ValueError, OSError):  # an embedded interpreter without signal support
        return


def _sigterm_default(signum: int, frame: Any) -> None:
    # The default action, after the socket is gone: the process still dies *by* SIGTERM (exit
    # status 143 to a shell, -15 to subprocess), without atexit handlers, as it would have.
    with _server_lock:
        server = _server
    # A forked child (a DataLoader worker) inherits the handler, not the socket: its parent's.
    if server is not None and os.getpid() == _server_pid:
        try:
            os.unlink(server.socket_path)
        except OSError:
            pass  # already gone: nothing to remove
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _shutdown() -> None:
    # Before the interpreter goes: the server's thread and the hooks call into Python.
    global _server, _periodic
    with _periodic_lock:
        if _periodic is not None:
            _periodic.stop()
            _periodic = None
    with _server_lock:
        if _server is not None:
            _server.stop()
            _server = None
    with _hooks_lock:
        names = list(_hook_names)
        _hook_names.clear()
    for name in [_HOOK_NAME, *names]:
        _memopt.unregister_cleanup_hook(name)
    _memopt.set_torch_stats_provider(None)


atexit.register(_shutdown)


def _after_fork_in_child() -> None:
    # Only the forking thread exists in a forked child (a DataLoader worker, a multiprocessing
    # pool): a lock another thread held at the fork would stay held forever, and the server
    # and the periodic collector are the parent's (their threads did not come along). The
    # child starts with free locks and none of them: its serve_cleanup() serves the child.
    global _python_cleanup_lock, _hooks_lock, _periodic_lock, _periodic
    global _server_lock, _server, _server_pid
    _python_cleanup_lock = threading.Lock()
    _hooks_lock = threading.Lock()
    _periodic_lock = threading.Lock()
    _periodic = None
    _server_lock = threading.Lock()
    # Not stopped: stopping would join the parent's thread. The C++ server sees it is in a
    # forked child and leaves the parent's socket alone.
    _server = None
    _server_pid = None


os.register_at_fork(after_in_child=_after_fork_in_child)
