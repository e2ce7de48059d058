"""memopt.Monitor (the monitor engine on a thread) and the target of memopt.report()."""

import shutil
import threading

import pytest

import memopt
from conftest import FIXTURES, MIB

SIDECAR = FIXTURES / "v2-sidecar-pod"


def _roots(root):
    return {"procfs": str(root / "proc"), "sysfs": str(root / "sys")}


def test_report_targets_the_sibling_container(no_nvml):
    report = memopt.report(cgroup="/kubepods/pod1/ctr", **_roots(SIDECAR))
    assert report["target"]["kind"] == "cgroup"
    assert report["memory"]["limit_bytes"] == 488 * MIB
    assert sorted(p["pid"] for p in report["processes"]) == [1, 7]
    by_pid = memopt.report(pid=7, **_roots(SIDECAR))
    assert by_pid["cgroup"]["path"] == "/kubepods/pod1/ctr"
    host = memopt.report(cgroup="/", **_roots(SIDECAR))
    assert host["processes_scope"] == "host"


def test_report_of_a_missing_target_is_unknown(no_nvml):
    report = memopt.report(pid=999, **_roots(SIDECAR))
    assert report["status"]["level"] == "unknown"
    assert report["memory"] is None
    assert "no process 999" in report["target"]["unreadable"]


def test_conflicting_targets_raise(no_nvml):
    with pytest.raises(memopt.Error, match="--cgroup and --pid"):
        memopt.report(cgroup="/a", pid=1, **_roots(SIDECAR))


def _first(callback_list, event, timeout=20):
    assert event.wait(timeout), "no callback within the timeout"
    return callback_list[0]


def test_monitor_calls_back_with_samples_whose_level_is_the_monitors(no_nvml):
    samples = []
    arrived = threading.Event()

    def on_sample(report):
        samples.append(report)
        arrived.set()

    with memopt.Monitor(cgroup="/kubepods/pod1/ctr", on_sample=on_sample, **_roots(SIDECAR)) as m:
        sample = _first(samples, arrived)
        assert sample["status"]["level"] == "acceptable"  # 372 of 488 MiB: 76.2%
        assert m.level == "acceptable"
        assert m.running
    assert not m.running


def test_monitor_raises_events_as_the_tree_changes(no_nvml, tmp_path):
    root = tmp_path / "pod"
    shutil.copytree(SIDECAR, root)
    events = []
    warned = threading.Event()

    def on_event(event):
        events.append(event)
        if event["event"] == "level_changed" and event["level"] == "warning":
            warned.set()

    sampled = threading.Event()
    ctr = root / "sys/fs/cgroup/kubepods/pod1/ctr"
    with memopt.Monitor(
        cgroup="/kubepods/pod1/ctr",
        on_event=on_event,
        on_sample=lambda report: sampled.set(),
        **_roots(root),
    ) as m:
        assert sampled.wait(10), "no first sample"
        assert m.level == "acceptable"
        # A working set of 410 MiB (usage less 48 MiB of inactive cache) of 488: 84%, warning.
        (ctr / "memory.current").write_text(str(410 * MIB + 48 * MIB) + "\n")
        assert warned.wait(10), events
        assert m.level == "warning"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_failing_callback_does_not_stop_the_monitor(no_nvml):
    calls = []
    arrived = threading.Event()

    def on_sample(report):
        calls.append(report)
        arrived.set()
        raise RuntimeError("callback bug")

    with memopt.Monitor(interval_s=1, on_sample=on_sample, **_roots(SIDECAR)) as m:
        assert arrived.wait(10)
        arrived.clear()
        assert arrived.wait(10), "the second sample never came"
        assert m.running


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_monitor_rejects_a_bad_interval(bad):
    with pytest.raises(ValueError):
        memopt.Monitor(interval_s=bad)


def test_monitor_rejects_a_callback_that_is_not_callable():
    with pytest.raises(TypeError):
        memopt.Monitor(on_event="print")
