"""Loop forecast: where a loop that keeps its results meets the memory limit, said early.

An evaluation loop that appends every output (``results.append(model(batch))``) grows by about
the same amount per item, so the item at which the container's limit is reached is known long
before the kernel kills the process there. :func:`forecast` wraps the loop's iterable, measures
after each item and says it once. The fit is the C++ library's (``memopt::LoopForecast``).
"""

from __future__ import annotations

import sys
import warnings
import collections.abc
from typing import Any, Dict, Optional, Tuple, TypeVar

from . import _memopt
from ._memopt import Error

T = TypeVar("T")

__all__ = ["MemoryForecastError", "MemoryForecastWarning", "forecast"]


class MemoryForecastError(Error):
    """Raised by :func:`forecast` with ``raise_on_forecast=True`` when the loop is forecast to
    reach its memory limit before it ends: raised at the item where that became clear, before
    the kernel kills the process. The message says the growth per item and the item."""

    def __init__(self, message: str, prediction: Dict[str, Any]) -> None:
        super().__init__(message)
        #: The forecast: ``bytes_per_item``, ``item``, ``limit_item``, ``total``,
        #: ``seconds_left``, ``bytes_now``, ``limit_bytes``.
        self.prediction = prediction


class MemoryForecastWarning(UserWarning):
    """The warning :func:`forecast` gives once when the loop is forecast to reach its limit."""


def _cuda_in_use() -> Any:
    """torch.cuda when the program imported torch and CUDA is initialised here, else None;
    never initialises it (a context costs hundreds of MiB of GPU memory)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    if cuda is None or not cuda.is_initialized():
        return None
    return cuda


def forecast(
    iterable: collections.abc.Iterable[T],
    total: Optional[int] = None,
    limit: Optional[int] = None,
    raise_on_forecast: bool = False,
) -> collections.abc.Iterator[T]:
    """Yields the items of ``iterable`` (a list, a generator, a torch DataLoader) and, after each
    one, measures this process's RSS (``/proc/self/statm``: microseconds) and fits its growth
    per item. When the fit says the loop reaches the limit before its end, it warns once
    (:class:`MemoryForecastWarning`, which Python prints to stderr once), e.g. "at +2.0 MiB/item this
    loop reaches the container's limit (512 MiB) at item 250 of 400 (~40 s); ...: results are
    kept in memory; move them to CPU or write them out"; with ``raise_on_forecast=True`` it
    raises :class:`MemoryForecastError` instead, before the kernel kills the process.

    ``total``: the number of items (default ``len(iterable)`` when it has one; without it the
    forecast speaks when the limit comes within as many items again as were done). ``limit``:
    the RSS in bytes at which the process counts as killed (default: its RSS now plus what its
    cgroup has available now, i.e. the container's limit less what the rest of it uses; the
    host's available memory where no limit applies). The first 5 items are a warm-up the fit
    ignores.

    When the program has imported torch and CUDA is initialised (never initialised for this),
    torch's reserved GPU memory on the current device is forecast the same way against the
    device's total.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if total is not None and (not isinstance(total, int) or total < 0):
        raise ValueError(f"forecast: total must be a whole number >= 0, got {total!r}")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"forecast: limit must be a byte count > 0, got {limit!r}")
    rss = _memopt.LoopForecast(total, limit)
    gpu: Optional[Tuple[Any, int, _memopt.LoopForecast]] = None  # (torch.cuda, device, LoopForecast) once CUDA is in use
    for item in iterable:
        yield item
        said = rss.step()
        if gpu is None and "torch" in sys.modules:
            cuda = _cuda_in_use()
            if cuda is not None:
                device = cuda.current_device()
                gpu = (
                    cuda,
                    device,
                    _memopt.LoopForecast(
                        total,
                        cuda.get_device_properties(device).total_memory,
                        f"cuda:{device}'s memory",
                    ),
                )
        if gpu is not None and said is None:
            said = gpu[2].step_bytes(gpu[0].memory_reserved(gpu[1]), "GPU memory torch reserves")
        if said is not None:
            _say(said, raise_on_forecast)


def _say(prediction: Dict[str, Any], raise_on_forecast: bool) -> None:
    message = "memopt forecast: " + prediction["message"]
    if raise_on_forecast:
        raise MemoryForecastError(message, prediction)
    warnings.warn(message, MemoryForecastWarning, stacklevel=3)
