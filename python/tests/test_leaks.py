"""leak_check() / watch_leaks(): a planted leak (a growing dict and a growing list of torch CPU
tensors) is found at its lines, the tensors' storage is called native, and the tracemalloc
state the program had is the one it gets back."""

import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

import memopt
from conftest import MIB

HERE = Path(__file__).resolve()


def line_of(marker: str) -> int:
    for number, text in enumerate(HERE.read_text().splitlines(), start=1):
        if text.rstrip().endswith(marker) and "line_of(" not in text:
            return number
    raise AssertionError(f"no line ends with {marker}")


def grow(cache: dict, tensors: list, torch, step: int) -> None:
    for j in range(50):
        cache[(step, j)] = "x" * 4096 + str(j)  # planted: dict
        tensors.append(torch.ones(16384))  # planted: tensors


def test_leak_check_names_both_planted_lines_and_calls_the_tensor_storage_native():
    torch = pytest.importorskip("torch")
    assert not tracemalloc.is_tracing()
    cache, tensors = {}, []
    check = memopt.leak_check(top=10)
    assert tracemalloc.is_tracing()
    for step in range(8):
        grow(cache, tensors, torch, step)
        check.checkpoint()
    report = check.stop()
    assert not tracemalloc.is_tracing(), "leak_check must stop the tracing it started"

    by_place = {(site.file, site.line, site.kind): site for site in report.sites}
    dict_site = by_place.get((str(HERE), line_of("# planted: dict"), "python"))
    tensor_site = by_place.get((str(HERE), line_of("# planted: tensors"), "native"))
    assert dict_site is not None, str(report)
    assert tensor_site is not None, str(report)
    assert dict_site.r2 > 0.95 and dict_site.growth_bytes_per_hour > 0
    assert 7 * 50 * 4096 * 0.9 <= dict_site.growth_bytes <= 7 * 50 * 4096 * 1.5, dict_site
    assert tensor_site.count == 8 * 50
    assert tensor_site.growth_bytes == 7 * 50 * 16384 * 4
    assert report.torch_cpu_growth_bytes == 7 * 50 * 16384 * 4
    text = str(report)
    assert f"test_leaks.py:{line_of('# planted: tensors')}" in text
    assert "torch CPU tensor storage: native memory" in text


def test_steady_memory_is_not_a_leak():
    steady = {}
    check = memopt.leak_check()
    for step in range(6):
        steady.clear()
        steady.update((i, "y" * 4096) for i in range(100))
        check.checkpoint()
    report = check.stop()
    assert report.checkpoints == 6
    assert not report.suspected, str(report)
    # docs/naming.md: the duration in seconds, its old key beside it for one release.
    answer = report.as_dict()
    assert answer["duration_seconds"] == answer["duration_s"] == report.duration_s
    assert answer["duration_seconds"] > 0


def test_a_program_that_traces_keeps_tracing_with_its_own_frames():
    tracemalloc.start(7)
    try:
        check = memopt.leak_check(frames=1)
        assert check.frames == 7 and not check.tracing_started_here
        check.checkpoint()
        check.stop()
        assert tracemalloc.is_tracing()
        assert tracemalloc.get_traceback_limit() == 7
    finally:
        tracemalloc.stop()


def test_watch_leaks_logs_the_report_and_takes_checkpoints_on_a_timer(capsys):
    grown = []
    with memopt.watch_leaks(top=3, interval_s=0.02) as check:
        deadline = time.monotonic() + 30
        while check.checkpoints < 4 and time.monotonic() < deadline:
            grown.append(bytearray(64 * 1024))
            time.sleep(0.005)
    assert not tracemalloc.is_tracing()
    assert check.checkpoints >= 5  # the timer's, and the block's first and last
    assert "[memopt] leak check" in capsys.readouterr().err


def test_bad_arguments_are_value_errors():
    for arguments in ({"frames": 0}, {"top": 0}, {"interval_s": -1}, {"min_r2": 2}):
        with pytest.raises(ValueError):
            memopt.leak_check(**arguments)
    assert not tracemalloc.is_tracing()


LEAKY_SERVER = """
import sys
import memopt

path = memopt.serve_cleanup()
check = memopt.leak_check()
history = {}
for step in range(6):
    for j in range(100):
        history[(step, j)] = "z" * 4096 + str(j)  # the child's leak
    check.checkpoint()
print(path, flush=True)
sys.stdin.readline()
"""


def test_memopt_report_leaks_reads_the_check_running_inside_a_server(memopt_binary, tmp_path):
    import json
    import os
    import subprocess

    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    child = subprocess.Popen([sys.executable, "-c", LEAKY_SERVER], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip().endswith(f"{child.pid}.sock")
        run = subprocess.run([memopt_binary, "report", "--pid", str(child.pid), "--leaks", "--json"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        answer = json.loads(run.stdout)
        assert answer["pid"] == child.pid
        assert answer["checkpoints"] >= 7  # the child's six and the request's own
        leak_line = next(number for number, text in enumerate(LEAKY_SERVER.splitlines(), 1)
                         if text.endswith("# the child's leak"))
        lines = [site["line"] for site in answer["sites"] if site["file"] == "<string>"]
        assert leak_line in lines, answer
        text = subprocess.run([memopt_binary, "report", "--pid", str(child.pid), "--leaks"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert text.returncode == 0, text.stderr
        assert f"memopt leaks: pid {child.pid}" in text.stdout
        assert f"<string>:{leak_line}  python" in text.stdout, text.stdout
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    unasked = subprocess.run([memopt_binary, "report", "--leaks"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert unasked.returncode == 2 and "--pid" in unasked.stderr
