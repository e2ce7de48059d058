"""memopt.report() and memopt.Monitor read the configuration the CLI reads: ``config=``, else
$MEMOPT_CONFIG, else the defaults; a bad file raises UsageError naming the file and line."""

import json
import os
import subprocess
import threading

import pytest

import memopt
from conftest import FIXTURES

# 2.05 GiB of 8 GiB used, 25.6%: normal by default, a warning above 10%.
TREE = FIXTURES / "shared-workers"
ROOTS = {"procfs": str(TREE / "proc"), "sysfs": str(TREE / "sys")}
WARN_AT_10 = "[thresholds]\nacceptable_percent = 5\nwarning_percent = 10\n"


@pytest.fixture
def warn_config(tmp_path):
    path = tmp_path / "warn.toml"
    path.write_text(WARN_AT_10)
    return str(path)


@pytest.fixture(autouse=True)
def no_config_in_the_environment(monkeypatch):
    monkeypatch.delenv("MEMOPT_CONFIG", raising=False)


def test_report_reads_config_and_agrees_with_the_cli(no_nvml, warn_config, memopt_binary):
    assert memopt.report(**ROOTS)["status"]["level"] == "normal"
    report = memopt.report(config=warn_config, **ROOTS)
    assert report["status"]["level"] == "warning"
    assert report["thresholds"]["warning_percent"] == 10
    cli = subprocess.run(
        [memopt_binary, "--config", warn_config, "report", "--json", "--procfs", ROOTS["procfs"],
         "--sysfs", ROOTS["sysfs"]],
        capture_output=True, text=True, check=True,
        env={**os.environ, "MEMOPT_NVML_LIBRARY": "/nonexistent/libnvidia-ml.so.1"},
    )
    assert json.loads(cli.stdout)["status"] == report["status"]


def test_report_reads_memopt_config_and_config_wins_over_it(no_nvml, warn_config, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("MEMOPT_CONFIG", warn_config)
    assert memopt.report(**ROOTS)["status"]["level"] == "warning"
    plain = tmp_path / "plain.toml"
    plain.write_text("[monitor]\ntop = 3\n")
    assert memopt.report(config=str(plain), **ROOTS)["status"]["level"] == "normal"


def test_a_bad_config_raises_usage_error_naming_the_file_and_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("[thresholds]\nwarning_percent = 10\nsevere_percent = \"high\"\n")
    why = f"{bad}:3: \\[thresholds\\] severe_percent: expected a number"
    with pytest.raises(memopt.UsageError, match=why):
        memopt.report(config=str(bad), **ROOTS)
    with pytest.raises(memopt.UsageError, match=why):
        memopt.Monitor(config=str(bad), **ROOTS)
    monkeypatch.setenv("MEMOPT_CONFIG", str(bad))
    with pytest.raises(memopt.UsageError, match=why):
        memopt.report(**ROOTS)
    with pytest.raises(memopt.UsageError, match=why):
        memopt.Monitor(**ROOTS)
    with pytest.raises(memopt.UsageError, match=f"\\$MEMOPT_CONFIG: cannot read {tmp_path}/no"):
        monkeypatch.setenv("MEMOPT_CONFIG", str(tmp_path / "no.toml"))
        memopt.report(**ROOTS)


def _first_sample_level(**kwargs):
    samples = []
    arrived = threading.Event()

    def on_sample(report):
        samples.append(report)
        arrived.set()

    with memopt.Monitor(on_sample=on_sample, **ROOTS, **kwargs) as m:
        assert arrived.wait(20), "no first sample"
        return samples[0]["status"]["level"], m.level


def test_monitor_reads_memopt_config_as_the_cli_monitor_does(no_nvml, warn_config, monkeypatch):
    assert _first_sample_level() == ("normal", "normal")
    assert _first_sample_level(config=warn_config) == ("warning", "warning")
    monkeypatch.setenv("MEMOPT_CONFIG", warn_config)
    assert _first_sample_level() == ("warning", "warning")
