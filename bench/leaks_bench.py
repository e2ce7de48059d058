"""leak_check() on a planted leak, and what tracing costs an inference-like loop (issue 17).

The loop: a small torch CPU model (two Linear layers) run on a batch per "request", plus
Python bookkeeping per request. The leak: each request adds a torch CPU tensor to a list (a
growing cache) and an entry to a dict. Measured: requests per second without a leak check,
with leak_check() (tracemalloc, 1 frame) and with 10 frames; whether the report names both
planted lines and calls the tensor storage native.

Run from the repository root after building the Python module:
    PYTHONPATH=build/python /usr/bin/python3 bench/leaks_bench.py [--requests N]
"""

import argparse
import statistics
import sys
import time

import torch

import memopt

MIB = 1 << 20


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def serve(model, requests, check, cache, history, checkpoint_every):
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(requests):
            batch = torch.randn(8, 64)
            out = model(batch)
            meta = {"id": i, "label": int(out.argmax(1)[0]), "tags": [str(j) for j in range(8)]}
            if cache is not None:
                cache.append(out.repeat(64, 1))  # leak: native tensor storage
                history[i] = repr(meta) * 8  # leak: a Python dict
            if check is not None and (i + 1) % checkpoint_every == 0:
                check.checkpoint()
    return time.perf_counter() - start


def python_work(requests, check, checkpoint_every):
    """Python-only requests: parsing and building small objects, tracemalloc's worst case."""
    start = time.perf_counter()
    for i in range(requests):
        record = {"id": i, "fields": [str(j) * 3 for j in range(40)], "nested": {"a": [i] * 20}}
        _ = sorted(record["fields"], reverse=True)
        if check is not None and (i + 1) % checkpoint_every == 0:
            check.checkpoint()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = make_model()
    every = max(args.requests // 10, 1)
    configurations = {
        "no leak check": None,
        "leak_check(frames=1, torch_tensors=False)": dict(frames=1, torch_tensors=False),
        "leak_check(frames=10, torch_tensors=False)": dict(frames=10, torch_tensors=False),
        "leak_check(frames=1) (torch tensors attributed)": dict(frames=1),
    }
    for title, work in (
        ("inference-like loop (torch model + bookkeeping)",
         lambda check: serve(model, args.requests, check, None, None, every)),
        ("Python-only loop (small objects)",
         lambda check: python_work(args.requests * 10, check, every * 10)),
    ):
        rates = {name: [] for name in configurations}
        count = args.requests * (10 if "Python" in title else 1)
        for _ in range(args.rounds):
            for name, arguments in configurations.items():
                check = memopt.leak_check(**arguments) if arguments is not None else None
                seconds = work(check)
                if check is not None:
                    check.stop()
                rates[name].append(count / seconds)
        base = statistics.median(rates["no leak check"])
        print(f"{title}: {count} requests, median of {args.rounds} rounds")
        for name, values in rates.items():
            rate = statistics.median(values)
            print(f"  {name:48} {rate:9.0f} requests/s  ({(base / rate - 1) * 100:+6.1f}% time)")

    cache, history = [], {}
    check = memopt.leak_check()
    seconds = serve(model, args.requests, check, cache, history, every)
    report = check.stop()
    print(f"\nplanted leak, {args.requests} requests in {seconds:.1f} s "
          f"(checkpoint every {every}, torch tensors attributed):")
    print(report)
    source = open(__file__).read().splitlines()
    lines = {n for n, text in enumerate(source, 1) if text.strip().endswith(("# leak: native tensor storage", "# leak: a Python dict"))}
    found = {(s.line, s.kind) for s in report.sites if s.file.endswith("leaks_bench.py")}
    named = all(any(line == l for l, _ in found) for line in lines)
    native = any(kind == "native" for _, kind in found)
    print(f"\nboth planted lines named: {named}; tensor storage called native: {native}")
    return 0 if named and native else 1


if __name__ == "__main__":
    sys.exit(main())
