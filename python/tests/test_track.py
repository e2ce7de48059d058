"""track() measures a block's peak without resetting anyone's: VmHWM, ru_maxrss, torch's peak
statistics and other track() blocks keep their figures."""

import re
import resource
import threading
import time
import types
from pathlib import Path

import memopt
from conftest import MIB, touched


def vm_hwm() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE).group(1)) * 1024


def spike(size: int) -> None:
    """`size` resident bytes, held a moment (as a model's activations are) and given back."""
    block = touched(size)
    time.sleep(0.05)
    del block


def test_vmhwm_and_ru_maxrss_are_the_same_after_a_track():
    spike(300 * MIB)  # the lifetime peak now lies well above the current RSS
    memopt.cleanup_gpu_memory()
    hwm_before = vm_hwm()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with memopt.track():
        pass
    assert vm_hwm() == hwm_before
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss == maxrss_before


def test_nested_track_reports_the_inner_spike_in_both():
    size = 300 * MIB
    with memopt.track() as outer:
        with memopt.track() as inner:
            spike(size)
    for scope in (outer, inner):
        assert 0.9 * size <= scope.peak_increase_bytes <= 1.2 * size, vars(scope)


def test_an_inner_track_does_not_erase_the_outer_spike():
    size = 300 * MIB
    with memopt.track() as outer:
        spike(size)
        with memopt.track() as inner:
            pass
    assert outer.peak_increase_bytes >= 0.9 * size, vars(outer)
    assert inner.peak_increase_bytes < 0.5 * size, vars(inner)


def test_overlapping_scopes_on_two_threads_each_see_their_own_window():
    size = 200 * MIB
    started = threading.Event()
    spiked = threading.Event()
    results = {}

    def other_thread():
        with memopt.track() as scope:
            started.set()
            spiked.wait(30)
        results["other"] = scope

    thread = threading.Thread(target=other_thread)
    thread.start()
    started.wait(30)
    with memopt.track() as mine:
        spike(size)
    spiked.set()
    thread.join()
    with memopt.track() as later:  # after both: sees none of it
        pass
    assert mine.peak_increase_bytes >= 0.9 * size, vars(mine)
    assert results["other"].peak_increase_bytes >= 0.9 * size, vars(results["other"])
    assert later.peak_increase_bytes < 0.5 * size, vars(later)


class FakeCuda:
    """torch.cuda as track() uses it, on one device, with torch's per-process peak."""

    def __init__(self):
        self.allocated = 100 * MIB
        self.peak = 1000 * MIB  # an earlier peak of the program's

    def is_initialized(self):
        return True

    def device_count(self):
        return 1

    def memory_allocated(self, device):
        return self.allocated

    def max_memory_allocated(self, device):
        return self.peak

    def memory_reserved(self, device):
        return self.allocated

    def allocate(self, size):
        self.allocated += size
        self.peak = max(self.peak, self.allocated)

    def reset_peak_memory_stats(self, device):
        raise AssertionError("track() must not reset torch's peak statistics")

    def synchronize(self):
        pass

    def empty_cache(self):
        pass

    def ipc_collect(self):
        pass


def test_gpu_peak_without_resetting_torch(monkeypatch):
    cuda = FakeCuda()
    monkeypatch.setitem(__import__("sys").modules, "torch", types.SimpleNamespace(cuda=cuda))
    with memopt.track() as small:  # stays under the earlier peak: a lower bound, said so
        cuda.allocate(50 * MIB)
        cuda.allocate(-50 * MIB)
    assert small.gpu_peak_is_lower_bound is True
    assert small.gpu_peak_allocated_bytes == 100 * MIB
    with memopt.track() as big:  # a new peak of the process: exact
        cuda.allocate(2000 * MIB)
        cuda.allocate(-2000 * MIB)
    assert big.gpu_peak_is_lower_bound is False
    assert big.gpu_peak_allocated_bytes == 2100 * MIB
    assert big.gpu_peak_increase_bytes == 2000 * MIB
    assert cuda.peak == 2100 * MIB  # torch's own figure is untouched
