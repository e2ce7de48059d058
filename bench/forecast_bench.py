"""The cost of memopt.forecast() per item, in Python: a loop over a list with and without it.

    PYTHONPATH=build/python /usr/bin/python3 bench/forecast_bench.py

Prints the time per item of the bare loop, of the loop under forecast(), and the difference
(the target is at most 5 µs per item when nothing is printed). The limit is set far above the
loop, so the forecast fits every item and never speaks.
"""

import time

import memopt

N = 200_000


def per_item(loop, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(5):
        start = clock()
        loop()
        best = min(best, (clock() - start) / N)
    return best


items = list(range(N))


def bare():
    total = 0
    for x in items:
        total += x


def forecast():
    total = 0
    for x in memopt.forecast(items, limit=1 << 50):
        total += x


for name, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
    bare_s = per_item(bare, clock)
    forecast_s = per_item(forecast, clock)
    print(f"{name}: bare loop {bare_s * 1e6:.3f} µs/item, under forecast() "
          f"{forecast_s * 1e6:.3f} µs/item: forecast() costs {(forecast_s - bare_s) * 1e6:.3f} "
          f"µs/item (best of 5 runs of {N})")
