"""The processes of the survival bench: `server` (holds MIB steady) and `worker` (spikes on
command). Run as: python3 actors.py server MIB | python3 actors.py worker BASE_MIB CGROUP_DIR LOG.

A worker reads "spike RATE_MIB_S TARGET_MIB\\n" on stdin, grows at that rate to TARGET, holds
it 200 ms, falls back to BASE and answers "done\\n". On SIGTERM (memopt's) it appends one JSON
line to LOG: how far the cgroup was from its limit at that moment, in milliseconds at the rate
it was growing (when the kernel's OOM killer would have acted), then exits."""

import json
import os
import signal
import sys
import time

MIB = 1024 * 1024
CHUNK = 4 * MIB


def server(mib: int) -> None:
    held = [b"\x01" * MIB for _ in range(mib)]
    print("ready", flush=True)
    while True:
        time.sleep(3600)
        len(held)


def worker(base: int, cgroup_dir: str, log: str) -> None:
    held = [b"\x01" * CHUNK for _ in range(base * MIB // CHUNK)]
    state = {"start": None, "grown": 0}
    limit = int(open(os.path.join(cgroup_dir, "memory.limit_in_bytes")).read())

    def on_term(signum, frame):
        usage = int(open(os.path.join(cgroup_dir, "memory.usage_in_bytes")).read())
        entry = {"pid": os.getpid(), "signal": "SIGTERM", "usage_bytes": usage,
                 "limit_bytes": limit}
        if state["start"] is not None and state["grown"] > 0:
            rate = state["grown"] / (time.monotonic() - state["start"])
            entry["rate_mib_s"] = rate / MIB
            entry["ms_before_limit"] = (limit - usage) / rate * 1000.0
        with open(log, "a") as out:
            out.write(json.dumps(entry) + "\n")
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    for line in sys.stdin:
        _, rate_text, target_text = line.split()
        rate = float(rate_text) * MIB
        target = int(target_text) * MIB
        state["start"] = time.monotonic()
        state["grown"] = 0
        while len(held) * CHUNK < target:
            held.append(b"\x01" * CHUNK)
            state["grown"] += CHUNK
            due = state["start"] + state["grown"] / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        state["start"] = None
        time.sleep(0.2)
        del held[base * MIB // CHUNK:]
        print("done", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        worker(int(sys.argv[2]), sys.argv[3], sys.argv[4])
