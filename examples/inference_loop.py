#!/usr/bin/env python3
"""The seed's inference loop, as written there, with `import memopt` behind it.

    cleanup_gpu_memory(); monitor_memory_usage("before_inference")
    result = model.inference(data)
    cleanup_gpu_memory(); monitor_memory_usage("after_inference")

The model is a small convolutional backbone with a detection head, built here (no download),
loaded lazily, run on CUDA when torch has it and on the CPU otherwise. `memopt cleanup` from
another shell reaches this process while it runs (serve_cleanup).

    PYTHONPATH=build/python /usr/bin/python3 examples/inference_loop.py --frames 5
"""

import argparse

import torch

import memopt
from memopt import LazyModelLoader, cleanup_gpu_memory, monitor_memory_usage


class Detector(torch.nn.Module):
    """A stand-in for a perception model: a strided CNN over camera images and a head that
    predicts boxes and classes per cell of the feature map."""

    def __init__(self, classes: int = 10):
        super().__init__()
        layers, channels = [], 3
        for width in (64, 128, 256, 512):
            layers += [torch.nn.Conv2d(channels, width, 3, stride=2, padding=1),
                       torch.nn.BatchNorm2d(width), torch.nn.ReLU(inplace=True)]
            channels = width
        self.backbone = torch.nn.Sequential(*layers)
        self.head = torch.nn.Conv2d(channels, 4 + classes, 1)

    def inference(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.head(self.backbone(images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3, help="batches to run")
    parser.add_argument("--batch", type=int, default=2, help="images per batch")
    parser.add_argument("--size", type=int, default=448, help="image side in pixels")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    loader = LazyModelLoader(lambda: Detector().eval().to(device))
    print(f"memopt cleanup can reach this process at {memopt.serve_cleanup()}")

    for frame in range(args.frames):
        data = torch.rand(args.batch, 3, args.size, args.size, device=device)
        cleanup_gpu_memory(); monitor_memory_usage("before_inference")
        result = loader.model.inference(data)
        cleanup_gpu_memory(); monitor_memory_usage("after_inference")
        print(f"frame {frame}: output {tuple(result.shape)}")
        del data, result

    with memopt.track() as scope:
        loader.model.inference(torch.rand(args.batch * 4, 3, args.size, args.size, device=device))
    print(f"a batch of {args.batch * 4} raised the peak by "
          f"{scope.peak_increase_bytes / 2**20:.1f} MiB")

    released = loader.unload_model()
    print(f"unloading the model released {released['rss_released_bytes'] / 2**20:.1f} MiB")
    print(container_summary(memopt.report()))


def container_summary(report: dict) -> str:
    """One line from memopt.report(): its memory is null when the target's cgroup cannot be
    read (the level is then "unknown", and the reasons say why)."""
    level = report["status"]["level"]
    memory = report.get("memory")
    if memory is None:
        reasons = "; ".join(report["status"].get("reasons") or []) or "no reason given"
        return f"container: {level}, memory unknown ({reasons})"
    used = memory.get("used_percent")
    used_text = "unknown" if used is None else f"{used:.1f}%"
    return f"container: {level}, {used_text} of {memory['scope']} memory"


if __name__ == "__main__":
    main()
