"""Type stubs of the memopt package's public API (see __init__.py for what each does)."""

from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

from . import _memopt
from ._memopt import Error as Error
from ._memopt import UsageError as UsageError
from .leaks import LeakCheck as LeakCheck
from .leaks import LeakReport as LeakReport
from .leaks import leak_check as leak_check
from .leaks import watch_leaks as watch_leaks
from .loops import MemoryForecastError as MemoryForecastError
from .loops import MemoryForecastWarning as MemoryForecastWarning
from .loops import forecast as forecast
from .protect import MemoryBusy as MemoryBusy
from .protect import admit as admit
from .protect import admitted_bytes as admitted_bytes
from .protect import learned_bytes as learned_bytes
from .protect import on_pressure as on_pressure
from .protect import register_shed_hook as register_shed_hook
from .protect import shed as shed
from .protect import unregister_shed_hook as unregister_shed_hook

__version__: str
__revision__: str
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

def report(
    *,
    procfs: Optional[str] = None,
    sysfs: Optional[str] = None,
    model: Optional[str] = None,
    top: int = 5,
    cgroup: Optional[str] = None,
    pid: Optional[int] = None,
    config: Optional[str] = None,
) -> Dict[str, Any]: ...

class Monitor:
    def __init__(
        self,
        *,
        cgroup: Optional[str] = None,
        pid: Optional[int] = None,
        interval_s: Optional[int] = None,
        config: Optional[str] = None,
        on_event: Optional[Callable[[Dict[str, Any]], Any]] = None,
        on_sample: Optional[Callable[[Dict[str, Any]], Any]] = None,
        procfs: Optional[str] = None,
        sysfs: Optional[str] = None,
    ) -> None: ...
    def start(self) -> Monitor: ...
    def stop(self) -> None: ...
    @property
    def level(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def __enter__(self) -> Monitor: ...
    def __exit__(self, *exc: Any) -> None: ...
def parse_size(text: str) -> int: ...
def monitor_memory_usage(
    tag: str, *, gpu: bool = True, log: bool = True, detail: bool = False
) -> Dict[str, Any]: ...
def register_cleanup_hook(name: str, hook: Callable[[], Any]) -> None: ...
def unregister_cleanup_hook(name: str) -> bool: ...
def cleanup_gpu_memory() -> Dict[str, Any]: ...
def serve_cleanup() -> str: ...

class LazyModelLoader:
    def __init__(self, load_fn: Callable[[], Any]) -> None: ...
    @property
    def model(self) -> Any: ...
    def unload_model(self) -> Optional[Dict[str, Any]]: ...
    @property
    def loaded(self) -> bool: ...
    @property
    def loads(self) -> int: ...

class _ModelInUse:
    def __init__(self, handle: _memopt.ModelHandle) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class ModelCache:
    def __init__(self, budget: Union[int, str]) -> None: ...
    def add(self, name: str, loader: Callable[[], Any], *, replace: bool = False) -> None: ...
    def get(self, name: str) -> Any: ...
    def use(self, name: str) -> _ModelInUse: ...
    def evict(self, name: str) -> bool: ...
    def cost_bytes(self, name: str) -> Optional[int]: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def budget_bytes(self) -> int: ...
    @property
    def loaded(self) -> List[str]: ...
    def evictions(self) -> List[str]: ...

class track:
    start_rss_bytes: Optional[int]
    end_rss_bytes: Optional[int]
    peak_rss_bytes: Optional[int]
    peak_increase_bytes: Optional[int]
    gpu_peak_allocated_bytes: Optional[int]
    gpu_peak_increase_bytes: Optional[int]
    gpu_peak_is_lower_bound: Optional[bool]
    def __init__(self) -> None: ...
    def __enter__(self) -> track: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class PeriodicCollector:
    def __init__(self, interval_s: float) -> None: ...
    @property
    def interval_s(self) -> float: ...
    @property
    def runs(self) -> int: ...
    @property
    def last_collected(self) -> Optional[int]: ...
    @property
    def total_collected(self) -> int: ...
    @property
    def running(self) -> bool: ...
    def status(self) -> Dict[str, Any]: ...
    def stop(self, timeout_s: Optional[float] = 5.0) -> None: ...

def tune(
    *,
    gc_threshold: Tuple[int, ...] = (700, 10, 10),
    trim_threshold_bytes: Optional[int] = 10000,
    arena_max: Optional[int] = 2,
    gc_interval_s: Optional[float] = None,
) -> Dict[str, Any]: ...
