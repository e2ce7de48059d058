"""memopt.report(): the CLI's `report --json`, as a dict, from the same code."""

import json

import pytest

import memopt
from conftest import FIXTURES

SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())


def test_every_fixture_has_a_golden():
    assert len(SCENARIOS) >= 9, SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_report_equals_the_cli_golden(scenario, no_nvml):
    root = FIXTURES / scenario
    report = memopt.report(procfs=str(root / "proc"), sysfs=str(root / "sys"))
    assert report["schema"] == "memopt.report/1"
    assert report["timestamp"].endswith("Z")
    report["timestamp"] = "<time>"
    assert report["memopt_version"] == memopt.__version__
    report["memopt_version"] = "<version>"
    masked = json.loads(json.dumps(report).replace(str(root), "<fixture>"))
    assert masked == json.loads((root / "expected.json").read_text())


def test_report_of_this_machine_is_the_container_or_says_host(no_nvml):
    report = memopt.report(top=3)
    assert report["memory"]["scope"] in ("container", "host")
    assert report["status"]["level"] in ("normal", "acceptable", "warning", "severe", "danger")
    assert len(report["processes"]) <= 3


def test_model_is_compared_with_the_limit(no_nvml):
    root = FIXTURES / "v2-nested-parent-limit"
    plain = memopt.report(procfs=str(root / "proc"), sysfs=str(root / "sys"))
    sized = memopt.report(procfs=str(root / "proc"), sysfs=str(root / "sys"), model="maptr")
    assert json.dumps(sized) != json.dumps(plain)
    assert "maptr" in json.dumps(sized).lower()


def test_unreadable_tree_raises_memopt_error_naming_the_file():
    with pytest.raises(memopt.Error, match="/nonexistent/proc/meminfo"):
        memopt.report(procfs="/nonexistent/proc", sysfs="/nonexistent/sys")


def test_unknown_model_raises_memopt_error():
    with pytest.raises(memopt.Error, match="no-such-model"):
        memopt.report(model="no-such-model")


def test_error_is_an_exception_class_of_the_package():
    assert issubclass(memopt.Error, Exception)
    assert memopt.Error.__module__.startswith("memopt")


@pytest.mark.parametrize("text,expected", [("1.5G", 1536 * 1024 * 1024), ("512M", 512 << 20),
                                           ("4096", 4096), ("512Mi", 512 << 20),
                                           ("1Gi", 1 << 30), ("1Ki", 1024), ("2Ti", 2 << 40),
                                           ("1536Mi", 1536 << 20)])
def test_parse_size(text, expected):
    assert memopt.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "bogus", "-1G", "1.5Q", "1Mii", "1Bi"])
def test_parse_size_rejects_bad_text(text):
    with pytest.raises(memopt.Error, match="size"):
        memopt.parse_size(text)


def test_a_zombie_pid_is_unknown_never_the_root_cgroup(tmp_path, no_nvml):
    # A v1 host tree: pid 42 has exited and is not reaped; its cgroup file reads "/" (the
    # host's root cgroup, were it believed).
    proc, memory = tmp_path / "proc", tmp_path / "sys/fs/cgroup/memory"
    (proc / "42").mkdir(parents=True)
    memory.mkdir(parents=True)
    (proc / "meminfo").write_text(
        "MemTotal: 16777216 kB\nMemFree: 8388608 kB\nMemAvailable: 12582912 kB\n"
    )
    (proc / "42/stat").write_text("42 (python) Z 1 42 42 0 -1 4227084 0 0 0 0\n")
    (proc / "42/cgroup").write_text("4:memory:/\n")
    for name, text in {
        "cgroup.sane_behavior": "0\n",
        "memory.usage_in_bytes": "9000000000\n",
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.stat": "total_inactive_file 0\n",
    }.items():
        (memory / name).write_text(text)
    report = memopt.report(procfs=str(proc), sysfs=str(tmp_path / "sys"), pid=42)
    assert report["status"]["level"] == "unknown"
    assert report["memory"] is None
    assert report["cgroup"] is None
    assert any("zombie" in reason for reason in report["status"]["reasons"]), report["status"]
