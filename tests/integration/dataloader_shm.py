"""A torch DataLoader whose batches fill /dev/shm, for memopt's shm_filling and orphan-sweep tests.

4 workers (--workers) build 8 MiB batches (--batch items of 4 MiB float32 tensors, stacked by
torch's default_collate, which in a worker writes the batch straight into a new shared-memory
storage: /dev/shm under the sharing strategy --strategy). Each worker starts --stagger seconds
after the previous one and takes --sleep seconds per item, so the batches arrive one by one. The
main loop keeps every batch it takes and takes one every --step seconds (a slow step); with
prefetch_factor 2, 4 x 2 batches of 8 MiB are in flight at once: a 64 MiB /dev/shm is full
before the loop has taken its second batch, and the next worker to write gets a bus error.

Prints {"ready": true, "pid": ..., "workers": [...]} once the workers exist, {"batch": n, ...} per
batch taken, and {"error": ...} when the DataLoader fails; then waits to be killed.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.multiprocessing
from torch.utils.data import DataLoader, Dataset


class Slow(Dataset):
    def __init__(self, item_bytes, sleep):
        self.numel = item_bytes // 4
        self.sleep = sleep

    def __len__(self):
        return 1000

    def __getitem__(self, i):
        time.sleep(self.sleep)
        return torch.ones(self.numel)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--strategy", choices=["file_system", "file_descriptor"], required=True)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--item-mib", type=int, default=4)
    p.add_argument("--prefetch", type=int, default=2)
    p.add_argument("--sleep", type=float, default=1.0)
    p.add_argument("--stagger", type=float, default=0.6)
    p.add_argument("--step", type=float, default=30.0)
    a = p.parse_args()

    torch.set_num_threads(1)
    torch.multiprocessing.set_sharing_strategy(a.strategy)
    stagger = a.stagger

    def init(worker_id):
        time.sleep(worker_id * stagger)

    loader = DataLoader(Slow(a.item_mib << 20, a.sleep), batch_size=a.batch, num_workers=a.workers,
                        prefetch_factor=a.prefetch, worker_init_fn=init)
    it = iter(loader)
    print(json.dumps({"ready": True, "pid": os.getpid(), "strategy": a.strategy,
                      "workers": [w.pid for w in it._workers]}), flush=True)
    kept = []
    try:
        for n, batch in enumerate(it):
            kept.append(batch)
            print(json.dumps({"batch": n, "bytes": batch.numel() * 4}), flush=True)
            time.sleep(a.step)
    except Exception as e:  # the DataLoader's own report of a worker's bus error
        print(json.dumps({"error": str(e)}), flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main())
