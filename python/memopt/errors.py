"""memopt's exceptions, and the check that turns a bad argument into one in plain words.

Every failure of the library raises :class:`Error` with its message (the source named: a file
and line, a process, a model). A bad value the library itself refuses (a size that does not
parse, an unknown model, a config file that does not parse) raises :class:`UsageError`, which is
both an :class:`Error` and a ValueError, so ``except ValueError`` and ``except memopt.Error``
both catch it. Both classes are made by the C++ extension, where the errors are raised.
"""

from __future__ import annotations

from typing import Any

from ._memopt import Error, UsageError

__all__ = ["Error", "UsageError"]


def _require_callable(what: str, value: Any) -> None:
    """Raises TypeError, in plain words, when ``value`` cannot be called."""
    if not callable(value):
        raise TypeError(f"{what} must be callable (a function taking no arguments), "
                        f"got {type(value).__name__}: {value!r}")
