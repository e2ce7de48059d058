"""The container's memory once, as ``memopt report --json`` gives it (:func:`report`)."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from . import _memopt

__all__ = ["report"]


def report(
    *,
    procfs: Optional[str] = None,
    sysfs: Optional[str] = None,
    model: Optional[str] = None,
    top: int = 5,
    cgroup: Optional[str] = None,
    pid: Optional[int] = None,
    config: Optional[str] = None,
) -> Dict[str, Any]:
    """The container's memory as ``memopt report --json`` gives it (schema ``memopt.report/1``).

    ``cgroup``/``pid`` name the target as ``--cgroup``/``--pid`` do (a sidecar watching the
    model's container; ``cgroup="/"`` is the host); by default, this process's own cgroup.
    ``procfs``/``sysfs`` read another tree (tests, captured fixtures); ``model`` compares the
    limit with a perception model's measured minimum, as ``--model`` does; ``top`` is how many
    processes the report lists (0 or more). ``config`` is the TOML file whose thresholds give
    the level, as ``memopt --config FILE report`` reads it; by default ``$MEMOPT_CONFIG``, else
    none (the default thresholds).

    Raises ValueError for a negative ``top``, TypeError for arguments of the wrong type,
    :class:`UsageError` for a config that cannot be read or parsed (naming the file and line),
    and :class:`Error` for an unknown ``model`` (the message lists the known ones) or when the
    memory cannot be read.
    """
    if not isinstance(top, int) or isinstance(top, bool):
        raise TypeError(f"report(top=...) must be a whole number, got {type(top).__name__}")
    if top < 0:
        raise ValueError(f"report(top={top}): the number of processes to list cannot be negative")
    for name, value in (("procfs", procfs), ("sysfs", sysfs), ("model", model), ("cgroup", cgroup),
                        ("config", config)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"report({name}=...) must be a string, got {type(value).__name__}")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise TypeError(f"report(pid=...) must be a process id (int), got {type(pid).__name__}")
    answer: Dict[str, Any] = json.loads(
        _memopt.report_json(
            procfs=procfs, sysfs=sysfs, model=model, top=top, cgroup=cgroup, pid=pid,
            config=config,
        )
    )
    return answer
