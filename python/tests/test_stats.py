"""The `stats` request: a Python process embedding memopt tells `memopt report` what torch's
CUDA allocator and its ModelCache hold, without ever initialising CUDA for it."""

import json
import os
import subprocess
import sys
import textwrap
import types

import memopt
from memopt import _memopt

GIB = 1 << 30


class FakeCuda:
    """A stand-in torch.cuda: records every call; device 1 holds memory, device 0 none."""

    def __init__(self, initialized=True):
        self.calls = []
        self._initialized = initialized
        self.reserved = {0: 0, 1: 3 * GIB}
        self.allocated = {0: 0, 1: 2 * GIB}

    def is_initialized(self):
        self.calls.append("is_initialized")
        return self._initialized

    def device_count(self):
        self.calls.append("device_count")
        return 2

    def memory_allocated(self, device):
        self.calls.append(f"memory_allocated:{device}")
        return self.allocated[device]

    def memory_reserved(self, device):
        self.calls.append(f"memory_reserved:{device}")
        return self.reserved[device]

    def max_memory_allocated(self, device):
        self.calls.append(f"max_memory_allocated:{device}")
        return self.allocated[device] + GIB // 2

    def get_device_properties(self, device):
        self.calls.append(f"get_device_properties:{device}")
        return types.SimpleNamespace(uuid=f"uuid-of-{device}")


def fake_torch(monkeypatch, cuda):
    torch = types.ModuleType("torch")
    torch.cuda = cuda
    monkeypatch.setitem(sys.modules, "torch", torch)


def test_stats_lists_only_devices_where_torch_holds_memory(monkeypatch):
    cuda = FakeCuda()
    fake_torch(monkeypatch, cuda)
    answer = json.loads(_memopt.stats_json())
    assert answer["pid"] == os.getpid()
    assert answer["torch"] == [{
        "device": 1,
        "allocated_bytes": 2 * GIB,
        "reserved_bytes": 3 * GIB,
        "peak_allocated_bytes": 2 * GIB + GIB // 2,
        "uuid": "uuid-of-1",
    }]
    assert "get_device_properties:0" not in cuda.calls


def test_stats_never_touches_an_uninitialised_cuda(monkeypatch):
    cuda = FakeCuda(initialized=False)
    fake_torch(monkeypatch, cuda)
    answer = json.loads(_memopt.stats_json())
    assert answer["torch"] == []
    assert cuda.calls == ["is_initialized"]


def test_stats_without_torch_is_empty(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert json.loads(_memopt.stats_json())["torch"] == []


def test_stats_names_the_models_a_model_cache_holds():
    cache = memopt.ModelCache("1G")
    cache.add("encoder", lambda: bytearray(b"\x01" * (8 << 20)))
    model = cache.get("encoder")
    models = {m["name"]: m for m in json.loads(_memopt.stats_json())["models"]}
    assert "encoder" in models
    assert models["encoder"]["bytes"] == cache.cost_bytes("encoder")
    del model, cache


CHILD = textwrap.dedent(
    """
    import sys, types
    import memopt
    sys.path.insert(0, sys.argv[1])
    from test_stats import FakeCuda
    torch = types.ModuleType("torch")
    torch.cuda = FakeCuda()
    sys.modules["torch"] = torch
    cache = memopt.ModelCache("1G")
    cache.add("llama-7b", lambda: bytearray(b"\\x01" * (16 << 20)))
    cache.get("llama-7b")
    print(memopt.serve_cleanup(), flush=True)
    sys.stdin.readline()
    """
)


def test_memopt_report_shows_the_process_from_outside(memopt_binary, tmp_path):
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen([sys.executable, "-c", CHILD, here], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == f"{tmp_path}/{child.pid}.sock"
        run = subprocess.run([memopt_binary, "report", "--json"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        in_process = json.loads(run.stdout)["in_process"]
        assert [p["pid"] for p in in_process] == [child.pid]
        entry = in_process[0]
        assert entry["error"] is None
        assert entry["torch"] == [{
            "device": 1, "uuid": "uuid-of-1", "allocated_bytes": 2 * GIB,
            "reserved_bytes": 3 * GIB, "peak_allocated_bytes": 2 * GIB + GIB // 2,
            "cache_bytes": GIB,
        }]
        assert [m["name"] for m in entry["models"]] == ["llama-7b"]
        assert entry["models"][0]["bytes"] > 0
    finally:
        child.stdin.close()
        child.wait(timeout=30)
