"""The cost of memopt.forecast() per item, in Python: a loop over a list with and without it.

    PYTHONPATH=build/python /usr/bin/python3 bench/forecast_bench.py

Prints the time per item of the bare loop, of the loop under forecast(), and the difference
(the target is at most 5 µs per item when nothing is printed). The limit is set far above the
loop, so the forecast fits every item and never speaks.
"""

import time

import memopt

N = 200_000


def per_item(loop) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        loop()
        best = min(best, (time.perf_counter() - start) / N)
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


bare_s = per_item(bare)
forecast_s = per_item(forecast)
print(f"bare loop        {bare_s * 1e6:7.3f} µs/item")
print(f"under forecast() {forecast_s * 1e6:7.3f} µs/item")
print(f"forecast() costs {(forecast_s - bare_s) * 1e6:7.3f} µs/item (best of 5 runs of {N})")
