"""examples/inference_loop.py runs as documented and logs the seed's lines."""

import importlib.util
import os
import subprocess
import sys

import pytest

import memopt
from conftest import REPO

pytest.importorskip("torch", reason="python3-torch is not installed (scripts/setup.sh)")


def test_inference_loop_example_runs(tmp_path):
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "inference_loop.py"), "--frames", "2",
         "--size", "128"],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    logged = [line for line in run.stderr.splitlines() if line.startswith("[memopt] ")]
    tags = [line.split(":")[0] for line in logged]
    assert tags == ["[memopt] before_inference", "[memopt] after_inference"] * 2, run.stderr
    assert "frame 1: output (2, 14, 8, 8)" in run.stdout
    assert "unloading the model released" in run.stdout


def load_example():
    spec = importlib.util.spec_from_file_location("inference_loop",
                                                  REPO / "examples" / "inference_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_summary_survives_an_unknown_memory():
    # report()'s memory is null when the target's cgroup cannot be read: the example once
    # crashed there with a TypeError.
    example = load_example()
    unknown = {"status": {"level": "unknown", "reasons": ["memory.max: cannot be read"]},
               "memory": None}
    assert example.container_summary(unknown) == (
        "container: unknown, memory unknown (memory.max: cannot be read)")
    known = memopt.report()
    line = example.container_summary(known)
    assert line.startswith(f"container: {known['status']['level']}, "), line
