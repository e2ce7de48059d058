"""`memopt monitor` raising leak_suspected for a real leaking Python process: the event carries
the process's top growing sites when it serves requests and runs a leak check, and says how to
get them when it does not."""

import json
import os
import subprocess
import sys
import pytest

from conftest import memory_cgroup, remove_cgroup

LEAKER = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
import memopt
if sys.argv[2] == "serve":
    memopt.serve_cleanup()
    check = memopt.leak_check(interval_s=0.5, min_growth_bytes=1024)
print("ready", flush=True)
hoard = []
while True:
    hoard.append(bytes(256 * 1024) + bytes([len(hoard) % 256]))  # the leak
    time.sleep(0.05)
"""


def test_a_leak_event_carries_the_processs_growing_sites(memopt_binary, tmp_path):
    cgroup = memory_cgroup("protect-leaks-inproc2")
    if cgroup is None:
        pytest.skip("needs root and a v1 memory cgroup to give the leakers a container of their own")
    (cgroup / "memory.limit_in_bytes").write_text(str(2 << 30))
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    config = tmp_path / "memopt.toml"
    config.write_text("[leak]\nwindow_s = 10\nmin_slope_mib_per_hour = 100\nmin_r2 = 0.8\n")
    leak_line = next(number for number, text in enumerate(LEAKER.splitlines(), 1)
                     if text.endswith("# the leak"))
    children = []
    monitor = None
    try:
        for mode in ("serve", "plain"):
            child = subprocess.Popen(
                [sys.executable, "-c", LEAKER, str(cgroup / "cgroup.procs"), mode], env=env,
                stdout=subprocess.PIPE, text=True)
            children.append(child)
            assert child.stdout.readline().strip() == "ready"
        serving, plain = children
        monitor = subprocess.Popen(
            [memopt_binary, "monitor", "1", "--json", "--pid", str(serving.pid), "--config",
             str(config), "--duration", "60"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events = {}
        for line in monitor.stdout:
            doc = json.loads(line)
            if doc.get("event") == "leak_suspected":
                events[doc["pid"]] = doc
            if serving.pid in events and plain.pid in events:
                break
        assert serving.pid in events and plain.pid in events, (events, monitor.stderr.read())

        served = events[serving.pid]
        sites = [(s["file"], s["line"], s["kind"]) for s in served["leak_sites"]]
        assert ("<string>", leak_line, "python") in sites, served
        top = served["leak_sites"][0]
        assert top["size_bytes"] > 0 and top["count"] > 0 and top["growth_bytes_per_hour"] > 0
        assert "leak_sites_note" not in served, served
        assert f"growing sites: <string>:{leak_line} python" in served["message"], served

        unserved = events[plain.pid]
        assert unserved["leak_sites"] == [], unserved
        assert "has no cleanup socket" in unserved["leak_sites_note"], unserved
        assert "memopt.serve_cleanup()" in unserved["leak_sites_note"], unserved
        assert unserved["leak_sites_note"] in unserved["message"], unserved
    finally:
        if monitor is not None:
            monitor.kill()
            monitor.wait(timeout=30)
        for child in children:
            child.kill()
            child.wait(timeout=30)
        remove_cgroup(cgroup)
