#!/usr/bin/env python3
"""Admission-gate bench (issue 16): 8 threads, each needing 100 MiB for about a second, 3 rounds each,
in a 512 MiB v1 memory cgroup. Without the gate the process needs 800 MiB at once and the
kernel's OOM killer ends it; with `memopt.admit(estimate="100M")` every task completes, the
cgroup's peak (memory.max_usage_in_bytes) stays under the limit, and the throughput is printed.

Run as root with the built package on PYTHONPATH:
  PYTHONPATH=build/python python3 bench/protect/gate.py
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

MIB = 1024 * 1024
LIMIT_MIB = 512

CHILD = textwrap.dedent("""
    import sys, threading, time
    import memopt
    gated = sys.argv[1] == "gate"
    MIB = 1024 * 1024
    done = []
    def work():
        # 1 MiB at a time, letting the other threads run in between (one 100 MiB bytes object
        # would be filled under the GIL, serializing the threads), then held for a second.
        block = []
        for _ in range(100):
            block.append(b"\\x01" * MIB)
            time.sleep(0)
        time.sleep(1.0)
        del block
    def task():
        for _ in range(3):
            if gated:
                with memopt.admit(estimate="100M", timeout=300):
                    work()
            else:
                work()
            done.append(1)
    start = time.monotonic()
    threads = [threading.Thread(target=task) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(len(done), time.monotonic() - start, flush=True)
""")


def own_v1_memory_path() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    raise SystemExit("no v1 memory controller")


def run(mode: str) -> dict:
    d = Path("/sys/fs/cgroup/memory" + own_v1_memory_path().rstrip("/") +
             f"/memopt-protect-gate-{mode}-{os.getpid()}")
    d.mkdir()
    try:
        (d / "memory.limit_in_bytes").write_text(str(LIMIT_MIB * MIB))
        procs = str(d / "cgroup.procs")
        child = subprocess.run(
            [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=300,
            preexec_fn=lambda: Path(procs).write_text(str(os.getpid())))
        peak = int((d / "memory.max_usage_in_bytes").read_text())
        oom = [l for l in (d / "memory.oom_control").read_text().splitlines()
               if l.startswith("oom_kill ")]
        result = {"mode": mode, "exit_code": child.returncode,
                  "oom_kills": int(oom[0].split()[1]) if oom else None,
                  "peak_mib": round(peak / MIB, 1), "limit_mib": LIMIT_MIB}
        if child.returncode == 0:
            tasks, seconds = child.stdout.split()
            result["tasks_completed"] = int(tasks)
            result["seconds"] = round(float(seconds), 2)
            result["tasks_per_second"] = round(int(tasks) / float(seconds), 2)
        return result
    finally:
        for _ in range(100):
            pids = (d / "cgroup.procs").read_text().split()
            for pid in pids:
                os.kill(int(pid), 9)
            if not pids:
                try:
                    d.rmdir()
                    break
                except OSError:
                    pass
            time.sleep(0.05)


if __name__ == "__main__":
    for mode in ("nogate", "gate"):
        print(json.dumps(run(mode)), flush=True)
