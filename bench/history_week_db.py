#!/usr/bin/env python3
"""Fills a memopt history database with DAYS of 1 s observations and a full sample every
SAMPLE_S seconds (PROCESSES processes and one GPU each), in one transaction, ending at 2026-11-08T00:00:00Z.

Usage: history_week_db.py PATH [DAYS=7] [SAMPLE_S=10] [PROCESSES=10]
PATH must hold memopt's (empty) schema: create it with
`memopt monitor 1 --duration 0.1 --record=PATH` first. Used by bench/history_stream_bench.sh.
"""
import sqlite3
import sys

path = sys.argv[1]
days = float(sys.argv[2]) if len(sys.argv) > 2 else 7
sample_s = int(sys.argv[3]) if len(sys.argv) > 3 else 10
processes = int(sys.argv[4]) if len(sys.argv) > 4 else 10
mib = 1 << 20
end_ms = 1_794_096_000_000  # 2026-11-08T00:00:00Z
seconds = int(days * 86400)
start_ms = end_ms - seconds * 1000

db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode = WAL")
db.execute("BEGIN")
db.execute("DELETE FROM observations")
db.execute("DELETE FROM samples")
db.execute("DELETE FROM processes")
db.execute("DELETE FROM gpus")
limit = 8192 * mib


def used_at(i):
    # A daily sawtooth between 2 and 5 GiB with a little noise.
    return (2048 + (i % 86400) * 3072 // 86400 + (i * 7919) % 64) * mib


db.executemany(
    "INSERT INTO observations VALUES(?, 0, ?, ?, ?, ?, ?, ?, ?)",
    ((start_ms + i * 1000, used_at(i), limit, limit - used_at(i), 1 if used_at(i) > 4096 * mib else 0,
      (i % 100) / 10.0, (i % 50) / 10.0, i // 200_000) for i in range(seconds)))
sample_id = 0
samples, procs, gpus = [], [], []
for i in range(0, seconds, sample_s):
    sample_id += 1
    samples.append((sample_id, start_ms + i * 1000, used_at(i), limit))
    for p in range(processes):
        rss = used_at(i) // (p + 2)
        procs.append((sample_id, 1000 + p, f"python3-worker-{p}", rss, rss, rss // 2, 0,
                      (p + 1) * 512 * mib if p == 0 else None))
    gpus.append((sample_id, 0, "NVIDIA H100 80GB HBM3", (40000 + i % 20000) * mib, 81559 * mib))
db.executemany("INSERT INTO samples VALUES(?, ?, 0, ?, ?, 0)", samples)
db.executemany("INSERT INTO processes VALUES(?, ?, ?, ?, ?, ?, ?, ?)", procs)
db.executemany("INSERT INTO gpus VALUES(?, ?, ?, ?, ?)", gpus)
db.execute("DELETE FROM events")
db.executemany("INSERT INTO events VALUES(?, 'level_changed', 1, 'memory is warning', ?)",
               ((start_ms + d * 86400_000, '{"timestamp":"2026-12-25T00:00:00Z","event":"level_changed","level":"warning","message":"memory is warning"}')
                for d in range(int(days))))
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
print(f"{path}: {seconds} observations, {sample_id} samples, {len(procs)} processes")
