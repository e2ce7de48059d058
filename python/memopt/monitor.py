"""memopt's monitor engine on a background thread of this process (:class:`Monitor`)."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional

from . import _memopt

__all__ = ["Monitor"]


class Monitor:
    """memopt's monitor engine on a background thread: the same engine ``memopt monitor`` runs.

    It watches the target (``cgroup``/``pid`` as ``--cgroup``/``--pid``; by default this
    process's own cgroup), alerts within a second of a threshold crossing, and calls
    ``on_event(event)`` for each event (``level_changed``, ``oom_kill``, ``pressure``,
    ``leak_suspected``, ``oom_forecast``, ``cleanup``, ``hook_failed``: the dicts
    ``memopt monitor --json`` prints) and ``on_sample(report)`` every ``interval_s`` seconds
    with a ``memopt.report/1`` dict. Callbacks run on the monitor's thread; an exception in
    one is reported as unraisable and the watch goes on. ``level`` is the level every output
    agrees on. ``config`` is the TOML file ``memopt monitor`` reads (by default
    ``$MEMOPT_CONFIG``, else none); ``interval_s`` overrides its ``[monitor] interval_seconds``
    (default 60). Use it as a context manager, or call ``start()`` and ``stop()``.
    """

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
    ) -> None:
        if interval_s is not None and (
            not isinstance(interval_s, int) or isinstance(interval_s, bool) or interval_s < 1
        ):
            raise ValueError(f"interval_s must be a whole number of seconds >= 1, got {interval_s!r}")
        for name, callback in (("on_event", on_event), ("on_sample", on_sample)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be callable, got {type(callback).__name__}")
        self._impl = _memopt.Monitor(
            cgroup=cgroup,
            pid=pid,
            interval_s=interval_s,
            config=config,
            procfs=procfs,
            sysfs=sysfs,
            on_event=_parsed(on_event),
            on_sample=_parsed(on_sample),
        )

    def start(self) -> Monitor:
        """Starts watching on a background thread."""
        self._impl.start()
        return self

    def stop(self) -> None:
        """Stops watching and waits for the thread; raises :class:`Error` if reading failed."""
        self._impl.stop()

    @property
    def level(self) -> str:
        """The current level: normal, acceptable, warning, severe, danger or unknown."""
        return self._impl.level

    @property
    def running(self) -> bool:
        """Whether the background thread is watching."""
        return self._impl.running

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _parsed(
    callback: Optional[Callable[[Dict[str, Any]], Any]]
) -> Optional[Callable[[str], Any]]:
    """The engine hands JSON text over; the callback gets the dict it encodes."""
    if not callback:
        return None
    call = callback
    return lambda text: call(json.loads(text))
