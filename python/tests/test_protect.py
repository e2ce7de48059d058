"""memopt's protection for the server itself: ModelCache's budget and constructor, shed hooks,
the admission gate (MemoryBusy in a real cgroup) and on_pressure (a real cgroup, kernel
notifications)."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import memopt
from conftest import MIB, memory_cgroup, remove_cgroup, touched


def test_model_cache_rejects_budgets_that_are_not_whole_sizes():
    with pytest.raises(TypeError, match="whole number of bytes"):
        memopt.ModelCache(1.5)
    with pytest.raises(TypeError):
        memopt.ModelCache(True)
    with pytest.raises(ValueError, match="between 1 and 2\\*\\*64 - 1"):
        memopt.ModelCache(10**30)
    with pytest.raises(ValueError, match="between 1"):
        memopt.ModelCache(0)
    with pytest.raises(ValueError):
        memopt.ModelCache(-5)
    assert memopt.ModelCache(2**64 - 1).budget_bytes == 2**64 - 1


def test_model_cache_evicts_down_to_its_budget_as_soon_as_a_model_is_released():
    cache = memopt.ModelCache("100M")
    cache.add("a", lambda: touched(60 * MIB))
    cache.add("b", lambda: touched(60 * MIB))
    with cache.use("a"):
        with cache.use("b"):
            assert set(cache.loaded) == {"a", "b"}  # both in use: over budget for now
        # b released while a is in use: b goes at once
        assert cache.evictions() == ["b"]
    assert cache.loaded == ["a"]
    assert cache.used_bytes <= cache.budget_bytes


def test_model_cache_refuses_a_model_larger_than_its_budget():
    cache = memopt.ModelCache("50M")
    cache.add("huge", lambda: touched(120 * MIB))
    with pytest.raises(memopt.Error, match="more than the whole budget"):
        cache.get("huge")
    assert cache.loaded == []


def test_shed_runs_hooks_and_evicts_unused_models():
    cache = memopt.ModelCache("1G")
    cache.add("idle", lambda: touched(20 * MIB))
    cache.add("busy", lambda: touched(20 * MIB))
    cache.get("idle")
    calls = []
    memopt.register_shed_hook("refuse_requests", lambda: calls.append("shed"))
    try:
        with cache.use("busy"):
            result = memopt.shed()
    finally:
        assert memopt.unregister_shed_hook("refuse_requests")
    assert calls == ["shed"]
    names = [step["name"] for step in result["steps"]]
    assert names[0] == "shed_hook:refuse_requests"
    model_step = result["steps"][names.index("model_cache")]
    assert "idle" in model_step["reason"]
    assert cache.loaded == ["busy"]


def test_admit_validates_and_admits_within_room():
    with pytest.raises(ValueError, match="estimate, a key"):
        memopt.admit()
    with pytest.raises(TypeError):
        memopt.admit(estimate=1.5)
    with pytest.raises(ValueError):
        memopt.admit(estimate="1M", timeout=-1)
    with memopt.admit(estimate="1M", timeout=0) as ticket:
        assert ticket.estimate_bytes == MIB
        assert memopt.admitted_bytes() >= MIB
    with pytest.raises(memopt.Error, match="would never fit"):
        with memopt.admit(estimate=2**62, timeout=0):
            pass
    assert issubclass(memopt.MemoryBusy, memopt.Error)






def _run_in_cgroup(d: Path, limit: int, code: str) -> subprocess.CompletedProcess:
    (d / "memory.limit_in_bytes").write_text(str(limit))
    script = f"open({str(d / 'cgroup.procs')!r}, 'w').write(str(__import__('os').getpid()))\n"
    script += textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=os.environ)


def test_admit_raises_memory_busy_when_the_container_has_no_room():
    d = memory_cgroup("protect-gate")
    if d is None:
        pytest.skip("needs root and a v1 memory cgroup")
    try:
        done = _run_in_cgroup(d, 512 * MIB, """
            import memopt
            with memopt.admit(estimate="300M", timeout=0):
                try:
                    with memopt.admit(estimate="300M", timeout=0.3):
                        print("ENTERED")
                except memopt.MemoryBusy as busy:
                    print("busy:", busy)
            with memopt.admit(estimate="300M", timeout=0):
                print("room again")
        """)
    finally:
        remove_cgroup(d)
    assert done.returncode == 0, done.stderr
    assert "busy: no room" in done.stdout
    assert "ENTERED" not in done.stdout
    assert "room again" in done.stdout


def test_on_pressure_calls_back_when_the_container_reaches_the_level():
    d = memory_cgroup("protect-pressure")
    if d is None:
        pytest.skip("needs root and a v1 memory cgroup")
    try:
        done = _run_in_cgroup(d, 256 * MIB, """
            import threading, memopt
            seen = []
            fired = threading.Event()
            def callback(event):
                seen.append((event["event"], event["level"]))
                fired.set()
            sub = memopt.on_pressure("warning", callback)
            block = b"\\x01" * (220 * 1024 * 1024)
            fired.wait(10)
            sub.cancel()
            print(seen)
        """)
    finally:
        remove_cgroup(d)
    assert done.returncode == 0, done.stderr
    assert "('level_changed', '" in done.stdout, done.stdout
    assert "'normal'" not in done.stdout and "'acceptable'" not in done.stdout
