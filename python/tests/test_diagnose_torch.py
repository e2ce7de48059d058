"""`memopt diagnose` advises only the allocator settings the target's torch knows: a real process
running Debian's torch 1.13, a fake torch 2.3 install that a process maps, and none, each in its
own cgroup, with the fake NVML showing a GPU."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import memory_cgroup

ENTER = "open({procs!r}, 'w').write(str(__import__('os').getpid()))\n"

TORCH_113 = """
import time, torch
print("ready", flush=True)
time.sleep(60)
"""

TORCH_113_SERVING = """
import time, torch, memopt
server = memopt.serve_cleanup()
print("ready", flush=True)
time.sleep(60)
"""

# A process mapping <site>/torch/lib/libtorch_fake.so, as a process running that torch would.
MAPS_FAKE = """
import mmap, sys, time
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print("ready", flush=True)
time.sleep(60)
"""

NOTHING = """
import time
print("ready", flush=True)
time.sleep(60)
"""




def _diagnose(memopt_binary, code: str, *args: str) -> dict:
    d = memory_cgroup("diagnose-torch")
    if d is None:
        pytest.skip("needs root and a v1 memory cgroup")
    child = None
    try:
        script = ENTER.format(procs=str(d / "cgroup.procs")) + textwrap.dedent(code)
        child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                                 text=True, env=os.environ)
        assert child.stdout.readline().strip() == "ready"
        done = subprocess.run([memopt_binary, "diagnose", "--json", "--pid", str(child.pid)],
                              capture_output=True, text=True, timeout=60, env=os.environ)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    finally:
        if child is not None:
            child.kill()
            child.wait()
        for _ in range(100):
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.02)


def _finding(doc: dict, finding_id: str) -> dict:
    found = [f for f in doc["findings"] if f["id"] == finding_id]
    assert len(found) == 1, json.dumps(doc["findings"], indent=1)
    return found[0]


@pytest.fixture
def gpu(fake_nvml):
    fake_nvml(1024 * 1024 * 1024)


def test_torch_1_13_is_never_advised_expandable_segments(memopt_binary, gpu):
    doc = _diagnose(memopt_binary, TORCH_113)
    assert doc["torch"]["version"] == "1.13.0a0", doc["torch_unknown"]
    assert doc["torch"]["source"] == "/usr/lib/python3/dist-packages/torch/version.py"
    advice = _finding(doc, "pytorch_cuda_alloc_conf")
    assert "expandable_segments" not in advice["fix"]
    assert "max_split_size_mb:128" in advice["fix"]
    assert "torch 1.13.0a0" in advice["evidence"]


def test_the_stats_answer_names_the_version_first(memopt_binary, gpu):
    doc = _diagnose(memopt_binary, TORCH_113_SERVING)
    assert doc["torch"]["version"] == "1.13.0a0"
    assert doc["torch"]["source"] == "its stats answer"
    assert "expandable_segments" not in _finding(doc, "pytorch_cuda_alloc_conf")["fix"]


def test_a_torch_2_3_install_is_advised_expandable_segments(memopt_binary, gpu, tmp_path):
    torch_dir = tmp_path / "site-packages" / "torch"
    (torch_dir / "lib").mkdir(parents=True)
    (torch_dir / "version.py").write_text("__version__ = '2.3.0+cu121'\ndebug = False\n")
    (torch_dir / "lib" / "libtorch_fake.so").write_bytes(b"\0" * 4096)
    doc = _diagnose(memopt_binary, MAPS_FAKE, str(torch_dir / "lib" / "libtorch_fake.so"))
    assert doc["torch"]["version"] == "2.3.0+cu121"
    assert doc["torch"]["source"] == str(torch_dir / "version.py")
    advice = _finding(doc, "pytorch_cuda_alloc_conf")
    assert "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" in advice["fix"]


def test_no_torch_says_the_version_is_unknown(memopt_binary, gpu):
    doc = _diagnose(memopt_binary, NOTHING)
    assert doc["torch"] is None
    assert "maps a torch library" in doc["torch_unknown"]
    advice = _finding(doc, "pytorch_cuda_alloc_conf")
    assert "torch version is unknown" in advice["title"]
    assert "expandable_segments" not in advice["fix"]
    assert "max_split_size_mb" not in advice["fix"]
