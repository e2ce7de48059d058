#!/usr/bin/env python3
"""Survival bench (issue 16): a 512 MiB v1 memory cgroup holding a "server" (250 MiB steady,
the largest process) and three "workers" (20 MiB) that spike, one at a time, at 150-400 MiB/s
towards 300 MiB: 20 spikes that would each take the cgroup over its limit.

Modes:
  none     the kernel's OOM killer alone;
  earlyoom earlyoom 1.7 (Debian) with its threshold mapped as closely as it allows (see below);
  memopt   `memopt --cgroup CG monitor --protect --prefer '*actors.py worker*'` as a sidecar
           outside the cgroup ([thresholds] severe_percent = 80 and [protect] forecast_s = 1:
           at severe, a spike whose rate reaches the limit within a second is acted on).
Counted per mode: spikes survived by the server, server deaths, kernel OOM kills (the cgroup's
oom_kill counter), memopt's kills, and for each memopt kill how many ms before the limit it came
(measured in the victim at SIGTERM: the cgroup's distance to its limit at the rate it grew).
Also checked: no process outside the cgroup was signalled (memopt's kill events name only pids
that were in the cgroup).

Run as root:  python3 bench/protect/survival.py --memopt build/memopt [--modes none,earlyoom,memopt]
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
LIMIT_MIB = 512
SERVER_MIB = 250
WORKER_BASE_MIB = 20
SPIKE_TARGET_MIB = 300
SPIKES = 20


def own_v1_memory_path() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    raise SystemExit("no v1 memory controller in /proc/self/cgroup")


def oom_kills(cg: "Cgroup") -> int:
    for line in (cg.dir / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


class Cgroup:
    def __init__(self, tag: str):
        parent = own_v1_memory_path().rstrip("/")
        self.path = f"{parent}/memopt-protect-bench-{tag}-{os.getpid()}"
        self.dir = Path("/sys/fs/cgroup/memory" + self.path)
        self.dir.mkdir()
        (self.dir / "memory.limit_in_bytes").write_text(str(LIMIT_MIB * MIB))

    def spawn(self, args, **kw) -> subprocess.Popen:
        procs = str(self.dir / "cgroup.procs")
        return subprocess.Popen(
            args, preexec_fn=lambda: Path(procs).write_text(str(os.getpid())), **kw)

    def remove(self) -> None:
        for _ in range(200):
            pids = (self.dir / "cgroup.procs").read_text().split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not pids:
                try:
                    self.dir.rmdir()
                    return
                except OSError:
                    pass
            time.sleep(0.05)


def start_actor(cg: Cgroup, args) -> subprocess.Popen:
    p = cg.spawn([sys.executable, str(HERE / "actors.py"), *args], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def run_mode(mode: str, memopt: str, seed: int) -> dict:
    rng = random.Random(seed)
    cg = Cgroup(mode)
    log = Path(tempfile.mkdtemp()) / "sigterm.jsonl"
    log.touch()
    sidecar = None
    sidecar_out = None
    outsiders = []
    try:
        server = start_actor(cg, ["server", str(SERVER_MIB)])
        workers = [start_actor(cg, ["worker", str(WORKER_BASE_MIB), str(cg.dir), str(log)])
                   for _ in range(3)]
        # A process outside the cgroup that matches the prefer pattern: must never be touched.
        outsiders.append(subprocess.Popen(
            [sys.executable, str(HERE / "actors.py"), "worker", "1", str(cg.dir), str(log)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        outsiders[0].stdout.readline()
        if mode == "earlyoom":
            # earlyoom watches the host's MemAvailable (here 24 GiB), never a cgroup: the
            # container's danger mark (50 MiB of 512) is 0.2% of the host. --dryrun: on a shared
            # host a threshold it *could* reach would make it kill other people's processes.
            sidecar_out = open(log.with_name("earlyoom.log"), "w")
            sidecar = subprocess.Popen(
                ["earlyoom", "-m", "0.2", "-s", "100", "-r", "1", "--dryrun",
                 "--prefer", "actors.py", "--avoid", "server"],
                stdout=sidecar_out, stderr=subprocess.STDOUT)
        elif mode == "memopt":
            config = log.with_name("protect.toml")
            config.write_text('[thresholds]\nsevere_percent = 80\n'
                              '[protect]\nenabled = true\nforecast_s = 1.0\ngrace_ms = 1000\n'
                              'prefer = ["*actors.py worker*"]\n')
            sidecar_out = open(log.with_name("memopt.jsonl"), "w")
            sidecar = subprocess.Popen(
                [memopt, "--cgroup", cg.path, "monitor", "60", "--json", "--config", str(config)],
                stdout=sidecar_out, stderr=subprocess.DEVNULL,
                env={**os.environ, "MEMOPT_NVML_LIBRARY": "/nonexistent"})
        time.sleep(1.5)
        kills_before = oom_kills(cg)
        server_deaths = 0
        survived = 0
        for spike in range(SPIKES):
            i = rng.randrange(3)
            rate = rng.uniform(150, 400)
            try:
                workers[i].stdin.write(f"spike {rate:.0f} {SPIKE_TARGET_MIB}\n")
                workers[i].stdin.flush()
            except BrokenPipeError:
                pass
            workers[i].stdout.readline()  # "done", or "" when it was ended
            time.sleep(0.3)
            if server.poll() is None:
                survived += 1
            else:
                server_deaths += 1
                server = start_actor(cg, ["server", str(SERVER_MIB)])
            for j, w in enumerate(workers):
                if w.poll() is not None:
                    workers[j] = start_actor(
                        cg, ["worker", str(WORKER_BASE_MIB), str(cg.dir), str(log)])
            time.sleep(rng.uniform(0.3, 0.8))
        result = {"mode": mode, "spikes": SPIKES, "server_survived": survived,
                  "server_deaths": server_deaths, "kernel_oom_kills": oom_kills(cg) - kills_before,
                  "outsider_alive": outsiders[0].poll() is None}
        terms = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
        margins = [t["ms_before_limit"] for t in terms if "ms_before_limit" in t]
        result["sigterms"] = len(terms)
        if margins:
            result["ms_before_limit_min"] = round(min(margins), 1)
            result["ms_before_limit_median"] = round(sorted(margins)[len(margins) // 2], 1)
        if mode == "memopt":
            sidecar.send_signal(signal.SIGTERM)
            sidecar.wait(10)
            sidecar_out.close()
            events = [json.loads(l) for l in log.with_name("memopt.jsonl").read_text().splitlines()
                      if l.startswith("{")]
            kills = [e for e in events if e.get("type") == "event" and e.get("event") == "kill"]
            result["memopt_kills"] = len(kills)
            result["memopt_sigkills"] = sum(1 for k in kills if k.get("signal") == "SIGKILL")
            result["memopt_sheds"] = sum(1 for e in events if e.get("event") == "shed")
            result["victims_outside_cgroup"] = sum(
                1 for k in kills if k.get("pid") == outsiders[0].pid)
        if mode == "earlyoom":
            sidecar.send_signal(signal.SIGTERM)
            sidecar.wait(10)
            sidecar_out.close()
            text = log.with_name("earlyoom.log").read_text()
            result["earlyoom_decisions"] = text.count("low memory!")
        return result
    finally:
        if sidecar and sidecar.poll() is None:
            sidecar.kill()
        for o in outsiders:
            o.kill()
            o.wait()
        cg.remove()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memopt", default=str(HERE.parents[1] / "build" / "memopt"))
    parser.add_argument("--modes", default="none,earlyoom,memopt")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    for mode in args.modes.split(","):
        print(json.dumps(run_mode(mode, args.memopt, args.seed)), flush=True)


if __name__ == "__main__":
    main()
