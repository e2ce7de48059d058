"""cleanup_gpu_memory() never starts CUDA: the fake CUDA driver (tests/nvml/fake_cuda.c) records
every call memopt makes, and a stand-in torch records what the Python step asks of torch.cuda."""

import json
import os
import subprocess
import sys
import threading
import types

import pytest

import memopt
from conftest import REPO

FAKE_CUDA = os.environ.get(
    "MEMOPT_FAKE_CUDA", str(REPO / "build" / "tests" / "fake_cuda" / "libcuda.so.1"))

# Loads the fake driver as torch would (by path, its soname libcuda.so.1), optionally runs
# cuInit as a program using CUDA does, then cleans up and prints the CUDA step.
PROGRAM = r"""
import ctypes, json, os, sys
import memopt
cuda = ctypes.CDLL(sys.argv[1], mode=os.RTLD_GLOBAL)
if sys.argv[2] == "init":
    assert cuda.cuInit(0) == 0
    os.unlink(os.environ["FAKE_CUDA_LOG"])
result = memopt.cleanup_gpu_memory()
print(json.dumps(next(s for s in result["steps"] if s["name"] == "cuda_mem_pools")))
"""


def run_with_fake_cuda(tmp_path, init: bool, **env) -> tuple:
    if not os.path.exists(FAKE_CUDA):
        pytest.fail(f"the fake CUDA driver is not built at {FAKE_CUDA} (MEMOPT_FAKE_CUDA)")
    log = tmp_path / "cuda.log"
    environment = dict(os.environ, FAKE_CUDA_LOG=str(log), PYTHONPATH=os.pathsep.join(sys.path),
                       MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1", **env)
    done = subprocess.run([sys.executable, "-c", PROGRAM, FAKE_CUDA, "init" if init else "no"],
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return json.loads(done.stdout.splitlines()[-1]), calls


def test_loaded_but_uninitialised_cuda_is_only_probed(tmp_path):
    step, calls = run_with_fake_cuda(tmp_path, init=False)
    assert step["status"] == "skipped" and "not initialised" in step["reason"], step
    assert calls == ["cuDeviceGetCount"]  # no cuInit, no context, no trim


def test_only_the_device_with_an_active_context_is_trimmed(tmp_path):
    step, calls = run_with_fake_cuda(tmp_path, init=True, FAKE_CUDA_DEVICES="2",
                                     FAKE_CUDA_ACTIVE="1")
    assert step["status"] == "done", step
    assert [c for c in calls if c.startswith("cuMemPoolTrimTo")] == ["cuMemPoolTrimTo 1"]
    assert not [c for c in calls if c.startswith(("cuInit", "cuCtx", "cuDevicePrimaryCtxRetain"))]


class FakeTorchCuda:
    """torch.cuda as the Python step uses it: device 1 holds memory, device 0 does not; the
    current device is per thread and 0 on a new one, as in CUDA."""

    def __init__(self):
        self.calls = []
        self._current = threading.local()

    def is_initialized(self):
        return True

    def device_count(self):
        return 2

    def memory_reserved(self, device):
        return 512 << 20 if device == 1 else 0

    def memory_allocated(self, device):
        return 0

    def synchronize(self, device=None):
        self.calls.append(("synchronize", getattr(self._current, "device", 0)
                           if device is None else device))

    def empty_cache(self):
        self.calls.append(("empty_cache",))

    def ipc_collect(self):
        self.calls.append(("ipc_collect",))


def test_cleanup_on_another_thread_synchronises_only_devices_in_use(monkeypatch, no_nvml):
    fake = FakeTorchCuda()
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=fake))
    results = []
    worker = threading.Thread(target=lambda: results.append(memopt.cleanup_gpu_memory()))
    worker.start()
    worker.join()
    assert fake.calls == [("synchronize", 1), ("empty_cache",), ("ipc_collect",)]
    assert results[0]["torch_steps"] == ["synchronize:1", "empty_cache", "ipc_collect"]


def test_torch_holding_nothing_is_left_alone(monkeypatch, no_nvml):
    fake = FakeTorchCuda()
    fake.memory_reserved = lambda device: 0
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=fake))
    assert memopt.cleanup_gpu_memory()["torch_steps"] == []
    assert fake.calls == []
