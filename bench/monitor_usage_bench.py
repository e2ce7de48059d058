"""monitor_memory_usage() against psutil, in one process with torch loaded and ~250 MiB RSS
(issue 17: the seed calls it twice per inference).

Run from the repository root after building the Python module:
    PYTHONPATH=build/python /usr/bin/python3 bench/monitor_usage_bench.py [--calls N]
Prints the median and p99 cost per call of each, measured in the same run.
"""

import argparse
import os
import statistics
import sys
import time

import psutil
import torch  # noqa: F401  (loaded for its address space, as in an inference server)

import memopt

MIB = 1 << 20


def per_call_us(function, calls: int) -> list:
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        function()
        times.append((time.perf_counter_ns() - start) / 1000.0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    ballast = bytearray(200 * MIB)  # resident: written below
    for offset in range(0, len(ballast), 4096):
        ballast[offset] = 1
    process = psutil.Process(os.getpid())
    rss = memopt.monitor_memory_usage("warm-up", log=False)["rss_bytes"]  # NVML loaded here
    cases = [
        ("memopt.monitor_memory_usage(tag, log=False)",
         lambda: memopt.monitor_memory_usage("bench", log=False)),
        ("memopt.monitor_memory_usage(tag, log=False, gpu=False)",
         lambda: memopt.monitor_memory_usage("bench", log=False, gpu=False)),
        ("memopt.monitor_memory_usage(tag, log=False, detail=True)",
         lambda: memopt.monitor_memory_usage("bench", log=False, detail=True)),
        ("psutil.Process().memory_info()", process.memory_info),
        ("psutil.Process().memory_full_info()", process.memory_full_info),
    ]
    print(f"RSS {rss / MIB:.0f} MiB, torch {torch.__version__}, {args.calls} calls each")
    print(f"{'call':58} {'median µs':>10} {'p99 µs':>10}")
    for name, function in cases:
        calls = args.calls if "full_info" not in name and "detail" not in name else args.calls // 10
        per_call_us(function, 20)
        times = sorted(per_call_us(function, calls))
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"{name:58} {statistics.median(times):10.1f} {p99:10.1f}")
    del ballast
    return 0


if __name__ == "__main__":
    sys.exit(main())
