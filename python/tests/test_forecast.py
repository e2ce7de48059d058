"""memopt.forecast: a loop that keeps its results, forecast to meet its limit, in this process
(an explicit limit) and in a real 512 MiB memory cgroup (the default limit, the kernel's kill)."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

import memopt
from conftest import MIB, memory_cgroup, remove_cgroup, rss_of, touched


def test_every_item_comes_through_and_a_flat_loop_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(memopt.forecast(range(300), limit=rss_of() + 256 * MIB)) == list(range(300))
        # A generator: no len(), no total.
        assert sum(memopt.forecast(x for x in range(100))) == sum(range(100))


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="total"):
        list(memopt.forecast([1], total=-1))
    with pytest.raises(ValueError, match="limit"):
        list(memopt.forecast([1], limit=0))


def _expected_limit_item(start_rss: int, limit: int, step: int) -> int:
    return (limit - start_rss) // step


def test_a_growing_loop_is_forecast_once_early_with_the_item():
    kept = []
    limit = rss_of() + 120 * MIB  # at 2 MiB per item: about item 60
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in memopt.forecast(range(200), limit=limit):
            kept.append(touched(2 * MIB))
    said = [w for w in caught if issubclass(w.category, memopt.MemoryForecastWarning)]
    assert len(said) == 1, [str(w.message) for w in caught]
    message = str(said[0].message)
    assert "at +2.0 MiB/item this loop reaches the limit" in message
    assert "move them to CPU or write them out" in message
    predicted = int(re.search(r"at item (\d+) of 200", message).group(1))
    said_at = int(re.search(r"now at item (\d+)", message).group(1))
    assert said_at < 30
    assert 54 <= predicted <= 66, message


def test_raise_on_forecast_raises_a_memopt_error_with_the_prediction():
    kept = []
    limit = rss_of() + 120 * MIB
    done = 0
    with pytest.raises(memopt.MemoryForecastError) as raised:
        for _ in memopt.forecast(list(range(200)), limit=limit, raise_on_forecast=True):
            kept.append(touched(2 * MIB))
            done += 1
    assert isinstance(raised.value, memopt.Error)
    prediction = raised.value.prediction
    assert prediction["total"] == 200
    assert prediction["item"] == done < 30
    assert abs(prediction["bytes_per_item"] - 2 * MIB) < 0.1 * MIB
    assert 54 <= prediction["limit_item"] <= 66


# --- a real cgroup: the kernel kills where the forecast said ----------------------------------

LOOP = """
import sys, warnings
import memopt
kept = []
raise_on = sys.argv[1] == "raise"
warnings.simplefilter("always")
for i in memopt.forecast(range(400), raise_on_forecast=raise_on):
    kept.append(b"\\x01" * (2 * 1024 * 1024))
    print("item", i + 1, flush=True)
print("finished", flush=True)
"""






def _loop_in_cgroup(mode: str) -> subprocess.CompletedProcess:
    d = memory_cgroup("forecast")
    if d is None:
        pytest.skip("needs root and a v1 memory cgroup")
    try:
        (d / "memory.limit_in_bytes").write_text(str(512 * MIB))
        if (d / "memory.memsw.limit_in_bytes").exists():
            (d / "memory.memsw.limit_in_bytes").write_text(str(512 * MIB))
        script = f"open({str(d / 'cgroup.procs')!r}, 'w').write(str(__import__('os').getpid()))\n"
        script += textwrap.dedent(LOOP)
        return subprocess.run([sys.executable, "-c", script, mode], capture_output=True,
                              text=True, timeout=60, env=os.environ)
    finally:
        remove_cgroup(d)


def _items(stdout: str) -> list:
    return [int(m) for m in re.findall(r"^item (\d+)$", stdout, re.MULTILINE)]


def test_in_a_512_mib_cgroup_it_warns_before_item_200_where_the_kernel_then_kills():
    done = _loop_in_cgroup("warn")
    # Without memopt's intervention the loop runs on into the limit: the kernel kills it.
    assert done.returncode == -9, (done.returncode, done.stdout[-300:], done.stderr)
    killed_after = max(_items(done.stdout))
    assert killed_after < 400
    match = re.search(r"at item (\d+) of 400[^;]*; now at item (\d+)", done.stderr)
    assert match, done.stderr
    predicted, said_at = int(match.group(1)), int(match.group(2))
    assert said_at < 200
    assert abs(predicted - killed_after) <= 0.1 * killed_after, (predicted, killed_after)
    assert done.stderr.count("MemoryForecastWarning") == 1, done.stderr


def test_in_a_512_mib_cgroup_raise_on_forecast_raises_before_the_kernel_kills():
    done = _loop_in_cgroup("raise")
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "memopt.loops.MemoryForecastError: memopt forecast: at +2.0 MiB/item" in done.stderr
    items = _items(done.stdout)
    assert items and max(items) < 200
    assert "finished" not in done.stdout


# --- seen from outside: memopt monitor turns the forecast into a loop_forecast event ----------

SERVED_LOOP = """
import sys, time, warnings
import memopt
memopt.serve_cleanup()  # the socket memopt monitor asks for its stats (and forecasts)
print("ready", flush=True)
sys.stdin.readline()
kept = []
warnings.simplefilter("always")
for i in memopt.forecast(range(400)):
    kept.append(b"\\x01" * (2 * 1024 * 1024))
    print("item", i + 1, flush=True)
    time.sleep(0.05)  # ~10 s from the forecast to the kill: a monitor's rounds see it first
print("finished", flush=True)
"""


def test_memopt_monitor_from_outside_shows_the_forecast_naming_the_pid_and_item(
        memopt_binary, tmp_path):
    d = memory_cgroup("forecast-monitor")
    if d is None:
        pytest.skip("needs root and a v1 memory cgroup")
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    monitor = None
    loop = None
    try:
        (d / "memory.limit_in_bytes").write_text(str(512 * MIB))
        if (d / "memory.memsw.limit_in_bytes").exists():
            (d / "memory.memsw.limit_in_bytes").write_text(str(512 * MIB))
        script = f"open({str(d / 'cgroup.procs')!r}, 'w').write(str(__import__('os').getpid()))\n"
        script += textwrap.dedent(SERVED_LOOP)
        loop = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert loop.stdout.readline().strip() == "ready", loop.stderr.read()
        monitor = subprocess.Popen(
            [memopt_binary, "monitor", "1", "--json", "--cgroup", str(d), "--duration", "90"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = monitor.stdout.readline()
        assert first, monitor.stderr.read()
        loop.stdin.write("go\n")
        loop.stdin.flush()
        out, err = loop.communicate(timeout=60)
        # Left alone, the loop runs into the limit: the kernel kills it.
        assert loop.returncode == -9, (loop.returncode, out[-300:], err)
        killed_after = max(_items(out))
        said = re.search(r"at item (\d+) of 400[^;]*; now at item (\d+)", err)
        assert said, err
        # The monitor's JSON lines until its oom_kill event (which comes after the forecast's).
        events = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = monitor.stdout.readline()
            if not line:
                break
            doc = json.loads(line)
            if doc.get("type") == "event":
                events.append(doc)
                if doc["event"] == "oom_kill":
                    break
        names = [e["event"] for e in events]
        assert "loop_forecast" in names, (names, monitor.stderr.read() if monitor.poll() else "")
        forecast = events[names.index("loop_forecast")]
        if "oom_kill" in names:
            assert names.index("loop_forecast") < names.index("oom_kill"), names
        assert forecast["pid"] == loop.pid, forecast
        assert forecast["total"] == 400, forecast
        assert forecast["item"] == int(said.group(2)), forecast
        assert forecast["limit_item"] == int(said.group(1)), forecast
        assert abs(forecast["limit_item"] - killed_after) <= 0.1 * killed_after, (
            forecast, killed_after)
        assert abs(forecast["bytes_per_item"] - 2 * MIB) < 0.1 * MIB, forecast
        assert f"(pid {loop.pid}) forecast its loop" in forecast["message"], forecast
        assert "move them to CPU or write them out" in forecast["message"], forecast
        assert names.count("loop_forecast") == 1, names
    finally:
        for process in (monitor, loop):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        remove_cgroup(d)
