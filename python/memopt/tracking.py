"""The peak memory of the code in a ``with`` block (:class:`track`)."""

from __future__ import annotations

from types import TracebackType
from typing import List, Literal, Optional, Tuple, Type

from . import _memopt
from ._torch import _cuda as _torch_cuda

__all__ = ["track"]


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

    def __init__(self) -> None:
        self.start_rss_bytes: Optional[int] = None
        self.end_rss_bytes: Optional[int] = None
        self.peak_rss_bytes: Optional[int] = None
        self.peak_increase_bytes: Optional[int] = None
        self.gpu_peak_allocated_bytes: Optional[int] = None
        self.gpu_peak_increase_bytes: Optional[int] = None
        self.gpu_peak_is_lower_bound: Optional[bool] = None
        self._tracker: Optional[_memopt.Tracker] = None
        # Per device: (allocated, max_memory_allocated) when the block began.
        self._gpu_start: Optional[List[Tuple[int, int]]] = None

    def __enter__(self) -> track:
        cuda = _torch_cuda()
        if cuda is not None:
            self._gpu_start = [
                (cuda.memory_allocated(d), cuda.max_memory_allocated(d))
                for d in range(cuda.device_count())
            ]
        self._tracker = _memopt.Tracker()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]:
        if self._tracker is None:
            raise RuntimeError("memopt.track: __exit__ without __enter__")
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
            for device, (gpu_start, start_max) in enumerate(self._gpu_start):
                gpu_end, end_max = cuda.memory_allocated(device), cuda.max_memory_allocated(device)
                if end_max > start_max:
                    peak += end_max
                else:
                    peak += max(gpu_start, gpu_end)
                    lower_bound = True
            self.gpu_peak_allocated_bytes = peak
            self.gpu_peak_increase_bytes = peak - sum(s for s, _ in self._gpu_start)
            self.gpu_peak_is_lower_bound = lower_bound
        return False
