"""Cleanup in this process: the seed's ``cleanup_gpu_memory()`` made to return memory, and the
hooks every cleanup runs (:func:`register_cleanup_hook`).

Importing this module registers memopt's own Python step (the collector, then torch's CUDA
caches) as the first hook of every cleanup of this process, so that ``memopt cleanup`` from
outside (see :func:`serve_cleanup`) does what :func:`cleanup_gpu_memory` does.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Set

from . import _memopt
from ._torch import _cuda as _torch_cuda, _memory as _torch_memory
from .errors import Error, _require_callable

__all__ = ["cleanup_gpu_memory", "register_cleanup_hook", "unregister_cleanup_hook"]

_log = logging.getLogger("memopt")

# What the Python hook did in the latest cleanup, for cleanup_gpu_memory()'s answer.
_python_cleanup_lock = threading.Lock()
_python_cleanup_last: Dict[str, Any] = {}


def _python_cleanup() -> None:
    """The cleanup hook every memopt cleanup runs first in this process: the collector, then
    torch's CUDA caches when torch uses CUDA. Registered at import, so that ``memopt cleanup``
    from outside (see serve_cleanup) does the same as cleanup_gpu_memory()."""
    collected = gc.collect()
    torch_steps: List[str] = []
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
_hook_names: Set[str] = set()  # the hooks registered from Python, let go of at exit


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


def cleanup_gpu_memory() -> Dict[str, Any]:
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


_UNMEASURED: Any = object()


def _cleanup(rss_before: Optional[int] = None, gpu_before: Optional[int] = _UNMEASURED
             ) -> Dict[str, Any]:
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


def _forget_hooks() -> None:
    # Before the interpreter goes: the C++ cleanup (and the server's thread) calls into Python.
    with _hooks_lock:
        names = list(_hook_names)
        _hook_names.clear()
    for name in [_HOOK_NAME, *names]:
        _memopt.unregister_cleanup_hook(name)


def _after_fork_in_child() -> None:
    # Only the forking thread exists in a forked child (a DataLoader worker, a multiprocessing
    # pool): a lock another thread held at the fork would stay held forever.
    global _python_cleanup_lock, _hooks_lock
    _python_cleanup_lock = threading.Lock()
    _hooks_lock = threading.Lock()


_memopt.register_cleanup_hook(_HOOK_NAME, _python_cleanup)
atexit.register(_forget_hooks)
os.register_at_fork(after_in_child=_after_fork_in_child)
