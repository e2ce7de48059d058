"""Models loaded when first needed and dropped with their memory: :class:`LazyModelLoader` (one
model, the seed's lazy loader made thread-safe) and :class:`ModelCache` (named models under a
memory budget, backed by the C++ cache)."""

from __future__ import annotations

import threading
import warnings
from types import TracebackType
from typing import Any, Callable, Dict, List, Literal, Optional, Set, Type, Union

from . import _memopt
from .cleanup import _cleanup
from .errors import Error, _require_callable
from .sizes import parse_size

__all__ = ["LazyModelLoader", "ModelCache"]


class _LoadAttempt:
    """One run of a LazyModelLoader's load_fn, shared by the callers that wait for it."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.done = threading.Event()
        self.model: Any = None
        self.error: Optional[BaseException] = None


class LazyModelLoader:
    """The seed's lazy loader, made correct: ``load_fn`` runs once, on the first ``.model``,
    however many threads ask at once; ``unload_model()`` drops the reference and returns the
    memory (collector, CUDA caches, malloc_trim). Callers holding the model keep it alive.
    Raises TypeError when ``load_fn`` is not callable."""

    def __init__(self, load_fn: Callable[[], Any]) -> None:
        _require_callable("LazyModelLoader: load_fn", load_fn)
        self._load_fn = load_fn
        self._lock = threading.Lock()
        self._model: Any = None
        self._loads = 0
        # The load in flight: callers that come meanwhile share its outcome.
        self._attempt: Optional[_LoadAttempt] = None

    @property
    def model(self) -> Any:
        """The model, loading it first when needed (once, whatever the number of threads).
        A failing ``load_fn`` raises its exception to every caller waiting for that load; the
        next access tries again."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is not None:
                return self._model
            attempt = self._attempt
            if attempt is None:
                attempt = self._attempt = _LoadAttempt()
                mine = True
            else:
                mine = False
        if not mine:
            if attempt.thread == threading.get_ident():
                raise Error("LazyModelLoader: load_fn asked for the model it is loading "
                            "(it would wait for itself forever)")
            # One attempt, one outcome: a failing load_fn is not run again by each waiter.
            attempt.done.wait()
            if attempt.error is not None:
                raise attempt.error
            return attempt.model
        try:
            model = self._load_fn()
            if model is None:
                raise Error("LazyModelLoader: load_fn returned None")
            attempt.model = model
            with self._lock:
                self._model = model
                self._loads += 1
        except BaseException as error:
            attempt.error = error
            raise
        finally:
            with self._lock:
                self._attempt = None
            attempt.done.set()
        return model

    def unload_model(self) -> Optional[Dict[str, Any]]:
        """Drops the model and cleans up. Returns cleanup_gpu_memory()'s answer, its RSS and
        GPU figures measured from before the model was dropped (None when none was loaded).
        Memory comes back only when no other reference to the model is left."""
        with self._lock:
            model, self._model = self._model, None
        if model is None:
            return None
        rss_before = _memopt.rss_bytes_of_this_process()
        gpu_before = _memopt.gpu_bytes_of_this_process()
        del model
        return _cleanup(rss_before, gpu_before)

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded now."""
        return self._model is not None

    @property
    def loads(self) -> int:
        """How many times load_fn ran."""
        return self._loads


class ModelCache:
    """Named models under a memory budget, backed by the C++ cache.

    Each model's cost is measured (the process's RSS across its loader), not declared. Over
    budget, the least recently used models nobody is using are dropped and malloc_trim runs,
    also as soon as a ``use()`` block ends. A model that alone costs more than the budget is
    not kept: loading it raises :class:`Error`. A shed request (``memopt monitor --protect``)
    evicts every model not in use. ``get(name)`` returns the model; ``with cache.use(name) as
    model:`` also marks it in use, so it is never evicted inside the block. A budget that is
    not a size string or a whole number raises TypeError; a size string that does not parse
    (:class:`UsageError`) or one outside 1..2**64-1, ValueError. ``loaded`` is a property, as
    on :class:`LazyModelLoader` (calling it, ``loaded()``, still works but is deprecated).
    """

    def __init__(self, budget: Union[int, str]) -> None:
        if isinstance(budget, str):
            budget_bytes = parse_size(budget)
        elif isinstance(budget, bool) or not isinstance(budget, int):
            raise TypeError(
                f"ModelCache: the budget must be a size such as '2G' or a whole number of "
                f"bytes, not {type(budget).__name__} {budget!r}"
            )
        else:
            budget_bytes = budget
        if not 0 < budget_bytes < 2**64:
            raise ValueError(
                f"ModelCache: the budget must be between 1 and 2**64 - 1 bytes, not {budget!r}"
            )
        self._cache = _memopt.ModelCache(budget_bytes)
        self._names: Set[str] = set()

    def add(self, name: str, loader: Callable[[], Any], *, replace: bool = False) -> None:
        """Registers how to load ``name``. A name already registered raises ValueError unless
        ``replace=True`` (which replaces the loader when the model is not loaded): two models
        added under one name are almost always a mistake, and ``get()`` would silently hand
        back the other one."""
        if name in self._names and not replace:
            raise ValueError(
                f"ModelCache.add: a model named {name!r} is already registered; use another "
                f"name, or add(..., replace=True) to replace its loader"
            )
        self._cache.add(name, loader)
        self._names.add(name)

    def get(self, name: str) -> Any:
        """The model, loaded when needed. Raises Error for an unknown name; a loader's own
        exception reaches the caller as raised."""
        return self._cache.get(name)

    def use(self, name: str) -> _ModelInUse:
        """The model, marked in use until the ``with`` block ends (never evicted inside it)::

            with cache.use("detector") as model:
                model(batch)
        """
        return _ModelInUse(self._cache.use(name))

    def evict(self, name: str) -> bool:
        """Drops ``name`` now when it is loaded and not in use."""
        return self._cache.evict(name)

    def cost_bytes(self, name: str) -> Optional[int]:
        """What loading ``name`` cost (the RSS across its loader); None when it is not loaded."""
        return self._cache.cost_bytes(name)

    @property
    def used_bytes(self) -> int:
        """What the loaded models cost together."""
        return self._cache.used_bytes

    @property
    def budget_bytes(self) -> int:
        """The budget, in bytes."""
        return self._cache.budget_bytes

    @property
    def loaded(self) -> _LoadedNames:
        """Loaded names, most recently used first (a list). A property, like
        :attr:`LazyModelLoader.loaded`; the older call ``loaded()`` still works, deprecated."""
        return _LoadedNames(self._cache.loaded())

    def evictions(self) -> List[str]:
        """Evicted names, oldest first."""
        return self._cache.evictions()


class _LoadedNames(List[str]):
    """ModelCache.loaded: a list that may still be called as the method it once was."""

    def __call__(self) -> List[str]:
        warnings.warn(
            "ModelCache.loaded() is deprecated: loaded is a property (cache.loaded), as on "
            "LazyModelLoader",
            DeprecationWarning,
            stacklevel=2,
        )
        return list(self)


class _ModelInUse:
    """ModelCache.use(name): the model for a ``with`` block, released when it ends."""

    def __init__(self, handle: _memopt.ModelHandle) -> None:
        self._handle = handle

    def __enter__(self) -> Any:
        return self._handle.model

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]:
        self._handle.release()
        return False
