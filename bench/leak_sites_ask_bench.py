"""How long the monitor's `leaks` request takes: the question `memopt monitor` asks a process
when it raises leak_suspected for it (the event waits for the answer, at most 2 s, off the
sampling path). A leaking Python child runs serve_cleanup() and leak_check(interval_s=0.5); each
request makes its check take one more checkpoint (a tracemalloc snapshot) and answer.

    PYTHONPATH=build/python /usr/bin/python3 bench/leak_sites_ask_bench.py [--leak-s 10] [--asks 10]

Times `memopt report --pid PID --leaks --json` (the same client path), memopt's start-up
included; `memopt --version` is timed beside it for that start-up.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))
from test_monitor_leaks import LEAKER  # noqa: E402  the same leaking child as the test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leak-s", type=float, default=10.0, help="seconds of leaking first")
    parser.add_argument("--asks", type=int, default=10)
    parser.add_argument("--memopt", default=str(REPO / "build" / "memopt"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        env = dict(os.environ, MEMOPT_RUNTIME_DIR=runtime,
                   MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
        child = subprocess.Popen([sys.executable, "-c", LEAKER, os.devnull, "serve"], env=env,
                                 stdout=subprocess.PIPE, text=True)
        try:
            child.stdout.readline()
            time.sleep(args.leak_s)
            asks = []
            for _ in range(args.asks):
                start = time.monotonic()
                run = subprocess.run([args.memopt, "report", "--pid", str(child.pid), "--leaks",
                                      "--json"], env=env, capture_output=True, text=True)
                asks.append((time.monotonic() - start) * 1000)
                if run.returncode != 0:
                    sys.exit(run.stderr)
                time.sleep(0.5)
            start = time.monotonic()
            subprocess.run([args.memopt, "--version"], capture_output=True)
            startup = (time.monotonic() - start) * 1000
        finally:
            child.kill()
            child.wait()
    print(f"leaks request after {args.leak_s:g} s of leaking: median {statistics.median(asks):.1f} ms, "
          f"max {max(asks):.1f} ms over {len(asks)} (memopt --version: {startup:.1f} ms)")


if __name__ == "__main__":
    main()
