"""A torch DataLoader over nuScenes-like infos (a Python list of small dicts), for memopt's
workers_copy tests. Forked workers that read the dicts write their reference counts, so each
worker copies the parent's pages one by one; with --numpy the infos are one numpy buffer
(mmengine's serialize_data), which reading never writes.

Prints one JSON line when the infos are built ({"ready": ..., "infos_bytes": ...}), waits for
the file --go to exist, iterates --epochs epochs (sleeping --sleep seconds per batch), then
prints {"done": true}.
"""
import argparse
import json
import os
import pickle
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def anon_bytes():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) * 1024
    return 0


def make_info(i):
    return {
        "token": "%032x" % i,
        "timestamp": 1533151603547590 + i,
        "lidar_path": "samples/LIDAR_TOP/n015-2018-08-02-17-16-37+0800__LIDAR_TOP__%d.pcd.bin" % i,
        "sweeps": [i, i + 1, i + 2],
        "ego2global_translation": [0.1 * i, 0.2 * i, 0.3],
        "num_lidar_pts": i % 1000,
    }


class Infos(Dataset):
    def __init__(self, n, as_numpy):
        infos = [make_info(i) for i in range(n)]
        if as_numpy:
            blobs = [np.frombuffer(pickle.dumps(x, protocol=4), dtype=np.uint8) for x in infos]
            self.address = np.cumsum([len(b) for b in blobs]).astype(np.int64)
            self.data = np.concatenate(blobs)
            self.infos = None
            del blobs
        else:
            self.infos = infos
        del infos

    def __len__(self):
        return len(self.address) if self.infos is None else len(self.infos)

    def __getitem__(self, i):
        if self.infos is None:
            start = 0 if i == 0 else int(self.address[i - 1])
            info = pickle.loads(self.data[start : int(self.address[i])].tobytes())
        else:
            info = self.infos[i]
        # What a loading pipeline does: read every field of the item.
        total = 0
        for value in info.values():
            total += len(value) if isinstance(value, (str, list)) else 1
        return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=300000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--numpy", action="store_true")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--go", default="")
    a = p.parse_args()

    torch.set_num_threads(1)
    before = anon_bytes()
    dataset = Infos(a.items, a.numpy)
    print(json.dumps({"ready": True, "pid": os.getpid(), "infos_bytes": anon_bytes() - before,
                      "anon_bytes": anon_bytes()}), flush=True)
    while a.go and not os.path.exists(a.go):
        time.sleep(0.05)
    loader = DataLoader(dataset, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                        persistent_workers=a.workers > 0)
    for epoch in range(a.epochs):
        for _ in loader:
            if a.sleep:
                time.sleep(a.sleep)
        print(json.dumps({"epoch": epoch}), flush=True)
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
