"""Type stubs of memopt.leaks (see leaks.py for what each does)."""

from typing import Any, Dict, List, Optional

__all__ = ["LeakCheck", "LeakReport", "LeakSite", "leak_check", "watch_leaks"]

class LeakSite:
    __match_args__ = (
        "file", "line", "kind", "size_bytes", "count", "growth_bytes", "growth_bytes_per_hour",
        "r2", "code",
    )
    file: str
    line: int
    kind: str
    size_bytes: int
    count: int
    growth_bytes: int
    growth_bytes_per_hour: float
    r2: float
    code: str
    def __init__(
        self,
        file: str,
        line: int,
        kind: str,
        size_bytes: int,
        count: int,
        growth_bytes: int,
        growth_bytes_per_hour: float,
        r2: float,
        code: str = ...,
    ) -> None: ...

class LeakReport:
    __match_args__ = (
        "sites", "checkpoints", "duration_s", "rss_growth_bytes", "python_growth_bytes",
        "torch_cpu_growth_bytes", "unexplained_native_growth_bytes", "frames",
    )
    sites: List[LeakSite]
    checkpoints: int
    duration_s: float
    rss_growth_bytes: int
    python_growth_bytes: int
    torch_cpu_growth_bytes: int
    unexplained_native_growth_bytes: int
    frames: int
    def __init__(
        self,
        sites: List[LeakSite] = ...,
        checkpoints: int = ...,
        duration_s: float = ...,
        rss_growth_bytes: int = ...,
        python_growth_bytes: int = ...,
        torch_cpu_growth_bytes: int = ...,
        unexplained_native_growth_bytes: int = ...,
        frames: int = ...,
    ) -> None: ...
    @property
    def suspected(self) -> bool: ...
    def as_dict(self) -> Dict[str, Any]: ...

class LeakCheck:
    top: int
    min_r2: float
    min_growth_bytes: int
    torch_tensors: bool
    frames: int
    def __init__(
        self,
        *,
        frames: int = 1,
        top: int = 10,
        interval_s: Optional[float] = None,
        min_r2: float = 0.8,
        min_growth_bytes: int = 65536,
        torch_tensors: bool = True,
    ) -> None: ...
    @property
    def tracing_started_here(self) -> bool: ...
    @property
    def checkpoints(self) -> int: ...
    def checkpoint(self) -> None: ...
    def report(self) -> LeakReport: ...
    def stop(self) -> LeakReport: ...
    def __enter__(self) -> LeakCheck: ...
    def __exit__(self, *exc: Any) -> None: ...

def leak_check(
    *,
    frames: int = 1,
    top: int = 10,
    interval_s: Optional[float] = None,
    min_r2: float = 0.8,
    min_growth_bytes: int = 65536,
    torch_tensors: bool = True,
) -> LeakCheck: ...

class watch_leaks:
    check: Optional[LeakCheck]
    report: Optional[LeakReport]
    def __init__(
        self,
        *,
        top: int = 10,
        frames: int = 1,
        interval_s: Optional[float] = None,
        min_r2: float = 0.8,
        min_growth_bytes: int = 65536,
        torch_tensors: bool = True,
        log: bool = True,
    ) -> None: ...
    def __enter__(self) -> LeakCheck: ...
    def __exit__(self, *exc: Any) -> None: ...
