"""Shared helpers of the Python tests: real processes, real /proc, the build's memopt binary."""

import os
import re
import time
from pathlib import Path

import pytest

import memopt

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
MIB = 1024 * 1024


def rss_of(pid="self") -> int:
    """VmRSS of a process, in bytes, from /proc/PID/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, f"no VmRSS in /proc/{pid}/status"
    return int(match.group(1)) * 1024


def touched(size: int) -> bytes:
    """`size` bytes whose every page is written (b"\\x01" * n fills them), so they are resident."""
    return b"\x01" * size


def memory_cgroup(name: str):
    """A fresh v1 memory cgroup below this process's own (memopt-NAME-PID-NS), or None where
    there is none to be had (not root, no v1 memory controller)."""
    if os.geteuid() != 0:
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            parent = Path("/sys/fs/cgroup/memory" + path)
            if (parent / "memory.limit_in_bytes").exists():
                d = parent / f"memopt-{name}-{os.getpid()}-{time.monotonic_ns()}"
                d.mkdir()
                return d
    return None


def remove_cgroup(d: Path) -> None:
    """Kills what is left in cgroup `d` and removes it (tries for about 4 s)."""
    for _ in range(200):
        pids = (d / "cgroup.procs").read_text().split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        if not pids:
            try:
                d.rmdir()
                return
            except OSError:
                pass
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def trimmed_heap():
    """Every test starts with the free heap earlier tests left handed back to the kernel:
    otherwise malloc reuses pages that are already resident and RSS does not move with an
    allocation, and a test measuring RSS would measure the tests before it."""
    memopt.cleanup_gpu_memory()


@pytest.fixture
def memopt_binary() -> str:
    path = os.environ.get("MEMOPT_BINARY", str(REPO / "build" / "memopt"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"the memopt binary is not built at {path} (MEMOPT_BINARY)")
    return path


@pytest.fixture
def no_nvml(monkeypatch):
    """A machine without NVML, whatever this one has."""
    monkeypatch.setenv("MEMOPT_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")
    memopt._memopt.reset_gpu_session()  # NVML is kept open between calls


@pytest.fixture
def fake_nvml(monkeypatch, tmp_path):
    """The fake libnvidia-ml.so.1 the C++ tests build, scripted through a file: returns a
    function that writes the script (one GPU; this process holding `bytes_used`)."""
    library = os.environ.get(
        "MEMOPT_FAKE_NVML", str(REPO / "build" / "tests" / "fake_nvml" / "full" / "libnvidia-ml.so.1"))
    if not os.path.exists(library):
        pytest.fail(f"the fake NVML library is not built at {library} (MEMOPT_FAKE_NVML)")
    script = tmp_path / "nvml-script"
    monkeypatch.setenv("MEMOPT_NVML_LIBRARY", library)
    monkeypatch.setenv("FAKE_NVML_SCRIPT", str(script))

    def write(bytes_used: int) -> None:
        total = 80 * 1024 * MIB
        script.write_text(
            "count 1\n"
            "driver 550.54.15\n"
            f"device 0 {total} 0 {total - bytes_used} {bytes_used} GPU-0000 Fake H100\n"
            f"process 0 compute {os.getpid()} {bytes_used}\n"
        )
        memopt._memopt.reset_gpu_session()  # the fake reads its script when NVML starts

    return write
