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

This file only gathers the public names; each module does one job:

- ``errors``: :class:`Error` and :class:`UsageError`; ``sizes``: :func:`parse_size`;
- ``reports``: :func:`report` (the container once); ``monitor``: :class:`Monitor` (continuously);
- ``usage``: :func:`monitor_memory_usage` (this process now); ``tracking``: :class:`track`
  (the peak of a block);
- ``cleanup``: :func:`cleanup_gpu_memory` and its hooks; ``serve``: :func:`serve_cleanup`
  (``memopt cleanup`` from outside);
- ``models``: :class:`LazyModelLoader` and :class:`ModelCache`;
- ``tuning``: :func:`tune` and :class:`PeriodicCollector`;
- ``leaks``: :func:`leak_check` and :class:`watch_leaks`; ``loops``: :func:`forecast`;
- ``protect``: admission, shedding and pressure callbacks (:class:`admit`, :func:`shed`,
  :func:`on_pressure`);
- ``_torch`` (private): what memopt reads of torch's CUDA allocator, never importing torch;
- ``_memopt``: the C++ core (pybind11), typed by ``_memopt.pyi``.
"""

from . import _memopt
from .cleanup import cleanup_gpu_memory, register_cleanup_hook, unregister_cleanup_hook
from .errors import Error, UsageError
from .leaks import LeakCheck, LeakReport, leak_check, watch_leaks
from .loops import MemoryForecastError, MemoryForecastWarning, forecast
from .models import LazyModelLoader, ModelCache
from .monitor import Monitor
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
from .reports import report
from .serve import serve_cleanup
from .sizes import parse_size
from .tracking import track
from .tuning import PeriodicCollector, tune
from .usage import monitor_memory_usage

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
