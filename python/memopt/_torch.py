"""What memopt reads of torch's CUDA caching allocator, only when the program imported torch
itself and used CUDA in this process: memopt never imports torch, and never initialises CUDA
(a context costs hundreds of MiB of GPU memory).

Importing this module makes the cleanup socket's ``stats`` answer carry torch's figures
(:func:`_stats`); the provider is let go of at exit, after every other part of memopt.
"""

from __future__ import annotations

import atexit
import json
import sys
from typing import Any, Dict, List, Optional, Tuple

from . import _memopt

_MIB = 1024.0 * 1024.0


def _cuda() -> Any:
    """torch.cuda when the program imported torch and has used CUDA in this process, else None.

    Asking an unused CUDA whether it is available would create a context (hundreds of MiB of
    GPU memory) to free nothing, so an uninitialized CUDA counts as none.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return None
    return cuda


def _memory() -> Optional[Tuple[int, int]]:
    """(allocated, reserved) bytes of torch's CUDA allocator over all devices, when in use."""
    cuda = _cuda()
    if cuda is None:
        return None
    devices = range(cuda.device_count())
    return (
        sum(cuda.memory_allocated(d) for d in devices),
        sum(cuda.memory_reserved(d) for d in devices),
    )


def _stats() -> str:
    """What a ``stats`` request on the cleanup socket says of torch: a JSON array with one object
    per CUDA device where torch holds memory in this process (allocated, reserved, peak, UUID).
    Empty when torch has not initialised CUDA here; it is never initialised for this. Also records
    torch.__version__ for the answer's "torch_version" when torch is imported (diagnose advises
    only the allocator settings that version knows)."""
    torch = sys.modules.get("torch")
    version = getattr(torch, "__version__", None) if torch is not None else None
    _memopt.set_torch_version(str(version) if version is not None else "")
    cuda = _cuda()
    devices: List[Dict[str, Any]] = []
    for device in range(cuda.device_count()) if cuda is not None else ():
        allocated = cuda.memory_allocated(device)
        reserved = cuda.memory_reserved(device)
        if reserved == 0 and allocated == 0:
            continue
        entry: Dict[str, Any] = {
            _memopt.KEY_DEVICE: device,
            _memopt.KEY_ALLOCATED_BYTES: allocated,
            _memopt.KEY_RESERVED_BYTES: reserved,
            _memopt.KEY_PEAK_ALLOCATED_BYTES: cuda.max_memory_allocated(device),
        }
        uuid = getattr(cuda.get_device_properties(device), "uuid", None)
        if uuid is not None:
            entry[_memopt.KEY_UUID] = str(uuid)
        devices.append(entry)
    return json.dumps(devices)


def _forget_stats_provider() -> None:
    # Before the interpreter goes: the provider calls into Python. Registered before every other
    # part of memopt registers its own, so it runs after them (atexit runs the last one first).
    _memopt.set_torch_stats_provider(None)


_memopt.set_torch_stats_provider(_stats)
atexit.register(_forget_stats_provider)
