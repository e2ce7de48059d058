"""Type stubs of memopt.protect (see protect.py for what each does)."""

from types import TracebackType
from typing import Any, Callable, Dict, Optional, Type, Union

from ._memopt import Error

__all__ = [
    "MemoryBusy",
    "admit",
    "admitted_bytes",
    "learned_bytes",
    "on_pressure",
    "register_shed_hook",
    "shed",
    "unregister_shed_hook",
]

class MemoryBusy(Error): ...

class PressureSubscription:
    def __init__(self, impl: Any) -> None: ...
    def cancel(self) -> None: ...

def on_pressure(level: str, callback: Callable[[Dict[str, Any]], Any]) -> PressureSubscription: ...
def register_shed_hook(name: str, hook: Callable[[], Any]) -> None: ...
def unregister_shed_hook(name: str) -> bool: ...
def shed() -> Dict[str, Any]: ...

class admit:
    def __init__(
        self,
        estimate: Union[int, str, None] = None,
        *,
        timeout: float = 60.0,
        key: Optional[str] = None,
    ) -> None: ...
    @property
    def estimate_bytes(self) -> Optional[int]: ...
    def __enter__(self) -> admit: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

def admitted_bytes() -> int: ...
def learned_bytes(key: str) -> Optional[int]: ...
