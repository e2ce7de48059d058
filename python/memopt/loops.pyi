"""Type stubs of memopt.loops (see loops.py for what each does)."""

from typing import Any, Dict, Iterable, Iterator, Optional, TypeVar

from ._memopt import Error

__all__ = ["MemoryForecastError", "MemoryForecastWarning", "forecast"]

T = TypeVar("T")

class MemoryForecastError(Error):
    prediction: Dict[str, Any]
    def __init__(self, message: str, prediction: Dict[str, Any]) -> None: ...

class MemoryForecastWarning(UserWarning): ...

def forecast(
    iterable: Iterable[T],
    total: Optional[int] = None,
    limit: Optional[int] = None,
    raise_on_forecast: bool = False,
) -> Iterator[T]: ...
