"""Protection for the model server itself: pressure callbacks, shedding and an admission gate.

- :func:`on_pressure` calls back when this process's container rises to a level (the monitor
  engine on a background thread, woken by kernel notifications, not by polling);
- :func:`register_shed_hook` runs code when ``memopt monitor --protect`` asks the process to
  shed load (drop a batch size, refuse requests); every ``ModelCache`` also evicts the models
  nobody is using;
- :class:`admit` lets a request start only when the container has room for its estimate, so a
  server runs as many requests at once as memory allows instead of a fixed worker count.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, Literal, Optional, Union

from . import _memopt
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

_LEVELS = ("normal", "acceptable", "warning", "severe", "danger")


class MemoryBusy(Error):
    """Raised by :class:`admit` when the container had no room for the request in time."""


class PressureSubscription:
    """What :func:`on_pressure` returns: ``cancel()`` stops the callbacks."""

    def __init__(self, impl: Any) -> None:
        self._impl = impl

    def cancel(self) -> None:
        """Stops the callbacks (waits for one running on another thread)."""
        if self._impl is not None:
            self._impl.cancel()
            self._impl = None


def on_pressure(level: str, callback: Callable[[Dict[str, Any]], Any]) -> PressureSubscription:
    """Calls ``callback(event)`` each time the container rises to ``level`` or above.

    ``level`` is one of acceptable, warning, severe, danger; ``event`` the ``level_changed``
    dict ``memopt monitor --json`` prints. One engine watches for all subscriptions of the
    process, woken by the kernel's cgroup thresholds and PSI triggers; callbacks run on its
    thread (an exception in one is reported as unraisable).
    """
    if not isinstance(level, str) or level not in _LEVELS[1:]:
        raise ValueError(f"level must be one of {', '.join(_LEVELS[1:])}, got {level!r}")
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    impl = _memopt.on_pressure(level, lambda text: callback(json.loads(text)))
    return PressureSubscription(impl)


def register_shed_hook(name: str, hook: Callable[[], Any]) -> None:
    """Runs ``hook()`` at each shed request (``memopt monitor --protect`` near the limit, via
    ``serve_cleanup()``'s socket). Registering a name again replaces its hook."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    _memopt.register_shed_hook(name, hook)


def unregister_shed_hook(name: str) -> bool:
    """Removes the shed hook ``name``; False when there was none."""
    return _memopt.unregister_shed_hook(name)


def shed() -> Dict[str, Any]:
    """Sheds now, as a shed request would: the shed hooks, then every ModelCache's unused
    models, then malloc_trim. Returns the steps with what each released."""
    return _memopt.shed()


_gate_lock = threading.Lock()
_gate_impl: Optional[_memopt.AdmissionGate] = None


def _gate() -> _memopt.AdmissionGate:
    global _gate_impl
    with _gate_lock:
        if _gate_impl is None:
            _gate_impl = _memopt.AdmissionGate()
        return _gate_impl


def _estimate_bytes(estimate: Union[int, str, None]) -> Optional[int]:
    if estimate is None:
        return None
    if isinstance(estimate, str):
        return _memopt.parse_size(estimate)
    if isinstance(estimate, bool) or not isinstance(estimate, int):
        raise TypeError(f"estimate must be a size such as '300M' or a number of bytes, "
                        f"got {type(estimate).__name__}")
    if estimate < 0 or estimate >= 2**63:
        raise ValueError(f"estimate must be between 0 and 2**63 - 1 bytes, got {estimate}")
    return estimate


class admit:
    """A memory admission gate for one request::

        with memopt.admit(estimate="300M", timeout=10):
            run_inference()

    Enters when the container's available memory, less what requests already admitted have
    not allocated yet, covers the estimate; waits up to ``timeout`` seconds (0: not at all)
    for room, then raises :class:`MemoryBusy`. With ``key=``, the estimate is learned: the
    largest peak growth measured of a request with that key that ran alone (the given
    estimate serves until one was measured). All ``admit`` blocks of a process share one gate.
    """

    def __init__(
        self,
        estimate: Union[int, str, None] = None,
        *,
        timeout: float = 60.0,
        key: Optional[str] = None,
    ) -> None:
        self._estimate = _estimate_bytes(estimate)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            0 <= timeout < 1e9
        ):
            raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        if self._estimate is None and key is None:
            raise ValueError("admit needs an estimate, a key, or both")
        self._timeout = float(timeout)
        self._key = key or ""
        self._ticket: Optional[Any] = None

    @property
    def estimate_bytes(self) -> Optional[int]:
        """The estimate the gate used (the learned one for a key), once entered."""
        return None if self._ticket is None else self._ticket.estimate_bytes

    def __enter__(self) -> "admit":
        ticket = _gate().admit(self._estimate, self._timeout, self._key)
        if ticket is None:
            raise MemoryBusy(
                f"no room for {self._estimate if self._estimate is not None else self._key!r} "
                f"within {self._timeout:g} s (admitted now: {_gate().admitted_bytes} bytes)"
            )
        self._ticket = ticket
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        if self._ticket is not None:
            self._ticket.release()
        return False


def admitted_bytes() -> int:
    """The sum of the estimates of the requests admitted now."""
    return _gate().admitted_bytes


def learned_bytes(key: str) -> Optional[int]:
    """The learned estimate of ``key``, when one was measured."""
    return _gate().learned_bytes(key)
