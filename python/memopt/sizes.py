"""Sizes in the spellings people and orchestrators write them: ``"1.5G"``, ``"512Mi"``."""

from __future__ import annotations

from . import _memopt

__all__ = ["parse_size"]


def parse_size(text: str) -> int:
    """Bytes in a size string: ``"1.5G"``, ``"512Mi"``, ``"1Gi"``, ``"2g"``, ``"4096"``.

    The C++ core's one size parser (the one ``--limit`` uses): units are binary whatever the
    spelling (``1G == 1Gi == 2**30``, as Docker reads ``--memory=1g``), Kubernetes' ``Ki``, ``Mi``,
    ``Gi``, ``Ti``, ``Pi``, ``Ei`` included. A bad size raises :class:`UsageError`, a
    ValueError (and an :class:`Error`).
    """
    return _memopt.parse_size(text)
