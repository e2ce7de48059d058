"""Measures `memopt monitor` (issue 4, Performance); run by bench/monitor_bench.sh.

footprint: 50 idle processes in a test cgroup, `memopt monitor 1 --json` inside it and
           `earlyoom -r 60` beside it for DURATION seconds; VmRSS of both every 10 s, CPU time
           (utime + stime from /proc/PID/stat) over the run.
latency:   a second cgroup with a 512 MiB limit holds this helper and `memopt monitor 60 --json`;
           the helper touches memory across the 80% warning level ROUNDS times, recording
           CLOCK_REALTIME when the touch is done (the crossing is within the last few ms of it),
           and the time the monitor's level_changed line is read; then frees it and waits for
           the level to fall back.
Needs root and a cgroup memory controller (v1/hybrid, or v2 with memory delegated).
Standard library only: run it with /usr/bin/python3.
"""

import argparse
import ctypes
import json
import mmap
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

MIB = 1 << 20
TICKS = os.sysconf("SC_CLK_TCK")


def own_memory_cgroup():
    """(version, directory) of this process's memory cgroup."""
    v2_path = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return 1, "/sys/fs/cgroup/memory" + path.rstrip("/")
            if hid == "0" and controllers == "":
                v2_path = path
    if v2_path is not None and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        parent = "/sys/fs/cgroup" + v2_path.rstrip("/")
        with open(parent + "/cgroup.subtree_control") as f:
            if "memory" not in f.read().split():
                sys.exit(f"cgroup v2: the memory controller is not delegated below {parent}")
        return 2, parent
    sys.exit("no cgroup memory controller found")


class Cgroup:
    def __init__(self, name, limit_bytes=None):
        self.version, parent = own_memory_cgroup()
        self.dir = f"{parent}/{name}-{os.getpid()}"
        os.mkdir(self.dir)
        if limit_bytes:
            limit_file = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
            self.write(limit_file, str(limit_bytes))

    def write(self, name, value):
        with open(f"{self.dir}/{name}", "w") as f:
            f.write(value)

    def add(self, pid):
        self.write("cgroup.procs", str(pid))

    def working_set(self):
        """usage - inactive_file, as memopt computes it."""
        usage_file = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        with open(f"{self.dir}/{usage_file}") as f:
            usage = int(f.read())
        key = "total_inactive_file" if self.version == 1 else "inactive_file"
        with open(f"{self.dir}/memory.stat") as f:
            for line in f:
                k, v = line.split()
                if k == key:
                    return max(0, usage - int(v))
        return usage

    def remove(self):
        for _ in range(200):
            with open(f"{self.dir}/cgroup.procs") as f:
                pids = [int(p) for p in f.read().split()]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(self.dir)
                return
            except OSError:
                time.sleep(0.05)
        print(f"warning: could not remove {self.dir}", file=sys.stderr)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 3, utime 14, stime 15 (1-based, proc(5)).
    return (int(fields[11]) + int(fields[12])) / TICKS


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def touch(m, start, end):
    """memset(m[start:end]): the pages become resident and charged, at C speed. (A bulk write
    from Python would first build a bytes object as large, charged too.)"""
    if end > start:
        address = ctypes.addressof(ctypes.c_char.from_buffer(m))
        ctypes.memset(address + start, 1, end - start)


def in_cgroup(cgroup):
    return lambda: cgroup.add(os.getpid())


def footprint(args, out):
    idle = Cgroup("memopt-bench-idle", 1 << 30)
    procs = []
    try:
        for _ in range(args.processes):
            procs.append(subprocess.Popen(["sleep", "100000"], preexec_fn=in_cgroup(idle)))
        monitor_out = open(os.path.join(args.work, "monitor.jsonl"), "w")
        monitor = subprocess.Popen([args.memopt, "monitor", "1", "--json"], stdout=monitor_out,
                                   stderr=subprocess.STDOUT, preexec_fn=in_cgroup(idle))
        watched = {"memopt": monitor}
        if args.quick_only:
            # The same monitor at interval 60: the 250 ms watch alone, without full samples.
            watched["memopt60"] = subprocess.Popen(
                [args.memopt, "monitor", "60", "--json"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=in_cgroup(idle))
        if args.record:
            # The same monitor with the flight recorder (issue 15): the cost of --record is
            # the difference from "memopt" above, side by side on the same machine.
            watched["memopt+rec"] = subprocess.Popen(
                [args.memopt, "monitor", "1", "--json",
                 "--record=" + os.path.join(args.work, "history.db")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=in_cgroup(idle))
        if args.earlyoom:
            earlyoom_out = open(os.path.join(args.work, "earlyoom.log"), "w")
            watched["earlyoom"] = subprocess.Popen([args.earlyoom, "-r", "60"],
                                                   stdout=earlyoom_out,
                                                   stderr=subprocess.STDOUT)
        start = time.monotonic()
        rss = {name: [] for name in watched}
        cpu_start = {}
        step = 0
        while True:
            step += 1
            target = start + 10 * step
            if target - start > args.duration + 0.5:
                break
            time.sleep(max(0, target - time.monotonic()))
            for name, p in watched.items():
                if p.poll() is not None:
                    sys.exit(f"{name} exited early with {p.returncode}")
                rss[name].append((round(time.monotonic() - start), rss_kib(p.pid)))
                if step == 1:
                    cpu_start[name] = (cpu_seconds(p.pid), time.monotonic())
        results = {}
        for name, p in watched.items():
            cpu_end, wall_end = cpu_seconds(p.pid), time.monotonic()
            cpu0, wall0 = cpu_start[name]
            share = (cpu_end - cpu0) / (wall_end - wall0)
            results[name] = {
                "rss": rss[name],
                "cpu_total_s": cpu_end,
                "cpu_window_s": cpu_end - cpu0,
                "window_s": wall_end - wall0,
                "core_percent": share * 100,
            }
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        monitor_out.close()
        with open(os.path.join(args.work, "monitor.jsonl")) as f:
            samples = sum(1 for line in f if line.startswith('{"type":"sample"'))
        results["memopt"]["samples"] = samples
        results["memopt"]["exit"] = monitor.returncode
        return results
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        idle.remove()


def latency(args):
    limit = 512 * MIB
    cg = Cgroup("memopt-bench-latency", limit)
    cg.add(os.getpid())  # this helper's memory is what the monitor watches
    monitor = subprocess.Popen([args.memopt, "monitor", str(args.latency_interval), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # A thread reads the monitor's lines and stamps them as they arrive, also while the main
    # thread is touching memory (memset releases the GIL only between calls: switch often).
    sys.setswitchinterval(0.0002)
    lines = []
    arrived = threading.Condition()

    def reader():
        buffer = b""
        while True:
            chunk = os.read(monitor.stdout.fileno(), 65536)
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                with arrived:
                    lines.append((now, json.loads(line)))
                    arrived.notify()

    threading.Thread(target=reader, daemon=True).start()

    def next_line(timeout):
        """(CLOCK_REALTIME ns when read, parsed JSON) or None."""
        with arrived:
            if not arrived.wait_for(lambda: lines, timeout):
                return None
            return lines.pop(0)

    def wait_for(event, level, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = next_line(deadline - time.monotonic())
            if got is None:
                return None
            at, doc = got
            levels = (level,) if isinstance(level, str) else level
            if doc.get("type") == "event" and doc.get("event") == event and \
                    doc.get("level") in levels:
                return at, doc
        return None

    try:
        if next_line(10) is None:
            sys.exit("the latency monitor wrote no first sample")
        time.sleep(1)
        # Base: 72% of the limit (acceptable) by default; each round touches a step to 84%
        # (warning) and frees it again (below the 78% the 2-point margin asks for). A base
        # under 70% (--latency-base 50) starts each round from a calm monitor, asleep until
        # its next full sample: the crossings then wake it from the kernel's thresholds.
        base = max(0, int(args.latency_base / 100 * limit) - cg.working_set())
        base_map = mmap.mmap(-1, base) if base else None
        if base_map:
            touch(base_map, 0, base)
        time.sleep(1.5)
        while next_line(0.1):
            pass
        latencies = []
        after_touch = []  # from the end of the touch (negative: the event came during it)
        touch_ms = []
        level_at_base = None
        for round_ in range(args.rounds):
            # Touch to 79% first, take the time, then on to 84%: the crossing of 80% comes
            # after that time, so the latency measured is, if anything, too long (by the time
            # the last touch took, reported below).
            working_set = cg.working_set()
            step = int(0.84 * limit) - working_set
            below = int(0.79 * limit) - working_set
            m = mmap.mmap(-1, step)
            touch(m, 0, below)
            crossed_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
            touch(m, below, step)
            touched_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
            touch_ms.append((touched_ns - crossed_ns) / 1e6)
            got = wait_for("level_changed", "warning", 5)
            if got is None:
                sys.exit(f"round {round_}: no level_changed to warning within 5 s "
                         f"(working set {cg.working_set() / MIB:.0f} MiB of 512)")
            latencies.append((got[0] - crossed_ns) / 1e6)
            after_touch.append((got[0] - touched_ns) / 1e6)
            m.close()
            # Down to acceptable (from a 72% base) or straight to normal (from under 70%).
            down = wait_for("level_changed", ("acceptable", "normal"), 5)
            if down is None:
                sys.exit(f"round {round_}: the level did not fall back")
            level_at_base = down[1]["level"]
            time.sleep(0.5)
        return {"latencies_ms": latencies, "step_mib": step / MIB, "base_level": level_at_base,
                "touch_ms": touch_ms, "after_touch_ms": after_touch}
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=30)
        with open(f"{os.path.dirname(cg.dir)}/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
        cg.remove()


def percentile(values, p):
    ordered = sorted(values)
    # nearest rank: with 20 values p99 is the largest.
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memopt", required=True)
    parser.add_argument("--earlyoom", default="")
    parser.add_argument("--duration", type=int, default=600)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--latency-interval", type=int, default=60)
    parser.add_argument("--latency-base", type=float, default=72)
    parser.add_argument("--work", required=True)
    parser.add_argument("--skip-footprint", action="store_true")
    parser.add_argument("--quick-only", action="store_true",
                        help="also measure `memopt monitor 60` beside the others")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--record", action="store_true",
                        help="also measure `memopt monitor 1 --record` beside the others")
    args = parser.parse_args()
    os.environ["MEMOPT_NVML_LIBRARY"] = "/nonexistent/libnvidia-ml.so.1"

    print(f"# memopt monitor benchmark  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"host: {os.uname().release}, {os.cpu_count()} CPUs; memopt: {args.memopt}")
    if not args.skip_footprint:
        print(f"\n## footprint: {args.duration} s, {args.processes} idle processes, "
              f"`memopt monitor 1 --json` (and `earlyoom -r 60`) side by side")
        print(f"load average before: {loadavg()}")
        results = footprint(args, sys.stdout)
        print(f"load average after:  {loadavg()}")
        for name, r in results.items():
            rss = dict(r["rss"])
            minute1 = rss.get(60, r["rss"][0][1])
            last_t, last = r["rss"][-1]
            peak = max(v for _, v in r["rss"])
            print(f"{name:10s} RSS  minute 1: {minute1 / 1024:.2f} MiB   "
                  f"at {last_t} s: {last / 1024:.2f} MiB   max: {peak / 1024:.2f} MiB   "
                  f"(min {min(v for _, v in r['rss']) / 1024:.2f} MiB)")
            print(f"{name:10s} CPU  {r['cpu_window_s']:.2f} s over {r['window_s']:.0f} s "
                  f"(from 10 s on) = {r['core_percent']:.3f}% of one core "
                  f"= {r['core_percent'] * 36:.1f} CPU-s per hour; "
                  f"{r['cpu_total_s']:.2f} s in all")
            if "samples" in r:
                print(f"{name:8s} wrote {r['samples']} samples, exit code {r['exit']}")
            print(f"{name:8s} RSS series (s: KiB): "
                  + " ".join(f"{t}:{v}" for t, v in r["rss"]))
    if not args.skip_latency:
        print(f"\n## alert latency: {args.rounds} crossings of 80% in a 512 MiB cgroup, "
              f"`memopt monitor {args.latency_interval} --json`")
        print(f"load average before: {loadavg()}")
        r = latency(args)
        print(f"load average after:  {loadavg()}")
        lat = r["latencies_ms"]
        print(f"step {r['step_mib']:.0f} MiB touched per crossing (79% -> 84% took median "
              f"{statistics.median(r['touch_ms']):.1f} ms, counted in the latency); level "
              f"between rounds: {r['base_level']}")
        print(f"latency ms from 79% (upper bound)  median: {statistics.median(lat):.1f}   "
              f"p99: {percentile(lat, 99):.1f}   max: {max(lat):.1f}   min: {min(lat):.1f}")
        low = r["after_touch_ms"]
        early = sum(1 for v in low if v < 0)
        print(f"the event arrived while the touch was still going on (79% -> 84%) in {early} of "
              f"{len(low)} rounds; from the end of the touch: median {statistics.median(low):.1f} "
              f"ms, max {max(low):.1f} ms")
        print("latencies ms from 79%: " + " ".join(f"{v:.1f}" for v in lat))


if __name__ == "__main__":
    main()
