"""cleanup_gpu_memory(): what the seed's cleanup only hoped to do, measured."""

import gc

import pytest

import memopt
from conftest import MIB, rss_of


def retained_heap(count=100_000, size=2000, keep_every=100):
    """Many small objects, freed, a few kept between them (and the last one, so the heap's top
    is in use): glibc keeps the freed chunks and RSS does not go down by itself."""
    objects = [bytes(size) + bytes([i % 256]) for i in range(count)]
    kept = objects[::keep_every] + [objects[-1]]
    del objects
    return kept, count * size


def test_gc_collect_alone_keeps_freed_heap_and_cleanup_returns_it(no_nvml):
    baseline = rss_of()
    kept, allocated = retained_heap()
    retained = rss_of() - baseline
    assert retained >= 0.8 * allocated, "the freed objects' heap should still be resident"

    collected = gc.collect()
    after_gc = rss_of() - baseline
    assert after_gc >= 0.8 * allocated, f"gc.collect() ({collected} objects) returned the heap"

    result = memopt.cleanup_gpu_memory()
    after_cleanup = rss_of() - baseline
    assert after_cleanup <= 0.25 * allocated, result
    assert result["rss_released_bytes"] >= 0.7 * allocated, result
    assert len(kept) == 1001


def test_answer_names_every_step(no_nvml):
    garbage = []
    garbage.append(garbage)  # a reference cycle only the collector frees
    del garbage
    result = memopt.cleanup_gpu_memory()
    assert result["gc_collected"] >= 1
    assert result["gpu_released_bytes"] is None  # no GPU: unknown, not zero
    assert result["torch_reserved_released_bytes"] is None
    assert result["torch_steps"] == []  # torch, if imported, has not used CUDA here
    names = [step["name"] for step in result["steps"]]
    assert names[0] == "hook:python" and names[-1] == "malloc_trim", names
    cuda = next(step for step in result["steps"] if step["name"] == "cuda_mem_pools")
    assert cuda["status"] == "skipped" and "not loaded" in cuda["reason"]


def test_gpu_released_is_nvml_before_minus_after(fake_nvml):
    fake_nvml(4 * 1024 * MIB)
    # The hook stands in for torch's empty_cache: the driver then shows 0.5 GiB left.
    memopt.register_cleanup_hook("release", lambda: fake_nvml(512 * MIB))
    try:
        result = memopt.cleanup_gpu_memory()
    finally:
        assert memopt.unregister_cleanup_hook("release")
    assert result["gpu_released_bytes"] == 3584 * MIB
    assert [s["status"] for s in result["steps"] if s["name"] == "hook:release"] == ["done"]


def test_a_failing_hook_is_a_failed_step_and_the_rest_run(no_nvml):
    ran = []

    def broken():
        raise ValueError("cache is wedged")

    memopt.register_cleanup_hook("broken", broken)
    memopt.register_cleanup_hook("after", lambda: ran.append(True))
    try:
        result = memopt.cleanup_gpu_memory()
    finally:
        memopt.unregister_cleanup_hook("broken")
        memopt.unregister_cleanup_hook("after")
    step = next(s for s in result["steps"] if s["name"] == "hook:broken")
    assert step["status"] == "failed"
    assert "ValueError" in step["reason"] and "cache is wedged" in step["reason"]
    assert ran == [True]
    assert result["steps"][-1]["name"] == "malloc_trim"


def test_the_python_hook_name_is_reserved():
    with pytest.raises(memopt.Error, match="python"):
        memopt.register_cleanup_hook("python", lambda: None)
    assert not memopt.unregister_cleanup_hook("never-registered")
