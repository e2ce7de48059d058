"""This process's memory now, measured and logged in one line like the seed's
``monitor_memory_usage``."""

from __future__ import annotations

import sys
from typing import Any, Dict

from . import _memopt
from ._torch import _MIB, _memory as _torch_memory

__all__ = ["monitor_memory_usage"]


def monitor_memory_usage(
    tag: str, *, gpu: bool = True, log: bool = True, detail: bool = False
) -> Dict[str, Any]:
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
    line: str = usage.pop("line")
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
