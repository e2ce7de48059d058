"""monitor_memory_usage(tag) and track(): this process's memory, measured, against allocations
of known size."""

import re
import time

import memopt
from conftest import MIB, rss_of, touched


def test_fields_and_first_delta(no_nvml, capsys):
    usage = memopt.monitor_memory_usage("start")
    for key in ("tag", "rss_bytes", "delta_rss_bytes", "heap_in_use_bytes", "heap_free_bytes",
                "heap_free_resident_bytes", "gpu_used_bytes", "pss_bytes", "uss_bytes"):
        assert key in usage, key
    assert usage["tag"] == "start"
    assert usage["gpu_used_bytes"] is None  # no GPU: unknown, not zero
    assert usage["torch_allocated_bytes"] is None
    assert abs(usage["rss_bytes"] - rss_of()) < 8 * MIB
    assert usage["pss_bytes"] is None  # the smaps_rollup page walk only with detail=True
    line = capsys.readouterr().err
    assert re.match(r"\[memopt\] start: RSS \d+\.\d MiB \(([+-]\d+\.\d MiB|no change)\), heap ",
                    line), line


def test_detail_adds_pss_and_uss(no_nvml, capsys):
    usage = memopt.monitor_memory_usage("detail", detail=True)
    assert usage["pss_bytes"] is not None and usage["uss_bytes"] is not None
    assert 0 < usage["uss_bytes"] <= usage["pss_bytes"] <= usage["rss_bytes"] + 8 * MIB
    assert ", PSS " in capsys.readouterr().err


def test_a_change_that_rounds_to_zero_is_no_change(no_nvml, capsys):
    memopt.monitor_memory_usage("first", log=False)
    memopt.monitor_memory_usage("again")
    line = capsys.readouterr().err
    assert "-0.0 MiB" not in line and "+0.0 MiB" not in line, line


def test_delta_matches_a_known_allocation_within_ten_percent(no_nvml):
    size = 100 * MIB
    memopt.monitor_memory_usage("before", log=False)
    block = touched(size)
    grown = memopt.monitor_memory_usage("after", log=False)
    assert abs(grown["delta_rss_bytes"] - size) <= 0.1 * size, grown
    assert grown["heap_in_use_bytes"] >= size  # malloc'd (mmap'd) through glibc
    del block
    freed = memopt.monitor_memory_usage("freed", log=False)
    # glibc either gives the block back at once (mmap'd, or at the heap's top) or keeps it as
    # free heap: one or the other, as measured, accounts for it.
    returned = -freed["delta_rss_bytes"]
    retained = freed["heap_free_bytes"] - grown["heap_free_bytes"]
    assert abs(returned + retained - size) <= 0.1 * size, (returned, retained)
    memopt.cleanup_gpu_memory()
    trimmed = memopt.monitor_memory_usage("trimmed", log=False)
    assert abs(grown["rss_bytes"] - trimmed["rss_bytes"] - size) <= 0.1 * size, trimmed


def test_gpu_bytes_come_from_nvml_for_this_pid(fake_nvml, capsys):
    fake_nvml(3 * 1024 * MIB)
    usage = memopt.monitor_memory_usage("gpu")
    assert usage["gpu_used_bytes"] == 3 * 1024 * MIB
    assert ", GPU 3072.0 MiB" in capsys.readouterr().err


def test_gpu_is_zero_when_nvml_lists_other_processes_only(fake_nvml, tmp_path):
    fake_nvml(1024 * MIB)
    script = tmp_path / "nvml-script"
    script.write_text(script.read_text().replace(f" compute {__import__('os').getpid()} ",
                                                 " compute 1 "))
    assert memopt.monitor_memory_usage("other", log=False)["gpu_used_bytes"] == 0


def test_track_sees_a_transient_200_mib_peak():
    size = 200 * MIB
    with memopt.track() as scope:
        block = touched(size)
        time.sleep(0.05)  # held a moment, as activations are: the sampler's period is 0.5 ms
        del block
    assert scope.peak_increase_bytes >= 0.9 * size, vars(scope)
    assert scope.peak_increase_bytes <= 1.2 * size, vars(scope)
    assert abs(scope.end_rss_bytes - scope.start_rss_bytes) < 0.1 * size
    assert scope.gpu_peak_allocated_bytes is None


def test_track_peak_is_the_scope_own():
    with memopt.track():
        block = touched(150 * MIB)
        del block
    with memopt.track() as quiet:
        pass
    assert quiet.peak_increase_bytes < 20 * MIB, vars(quiet)
