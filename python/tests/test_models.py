"""LazyModelLoader and ModelCache with real torch models on the CPU (built here, no download)."""

import threading

import pytest

import memopt
from conftest import MIB, rss_of

torch = pytest.importorskip("torch", reason="python3-torch is not installed (scripts/setup.sh)")


def build_model(layers=8, width=2048):
    """A multi-layer perceptron of layers * width^2 float32 weights (128 MiB as built here),
    initialized, so every page of it is written."""
    return torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)]).eval()


def model_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


def test_lazy_loader_loads_once_on_first_use_and_unload_returns_the_memory(no_nvml):
    calls = []

    def load():
        calls.append(threading.get_ident())
        return build_model()

    loader = memopt.LazyModelLoader(load)
    assert calls == [] and not loader.loaded  # nothing before the first .model

    before = rss_of()
    model = loader.model
    loaded_cost = rss_of() - before
    assert calls and len(calls) == 1
    assert loaded_cost >= 0.9 * model_bytes(model)
    assert loader.model is model and loader.model is model
    assert loader.loads == 1
    with torch.no_grad():
        assert loader.model(torch.ones(1, 2048)).shape == (1, 2048)

    del model
    loaded = rss_of()
    result = loader.unload_model()
    released = loaded - rss_of()
    assert not loader.loaded
    assert released >= 0.8 * loaded_cost, (released, loaded_cost, result)
    assert result["rss_released_bytes"] >= 0.8 * loaded_cost
    assert loader.unload_model() is None  # nothing left to unload


def test_lazy_loader_loads_once_when_many_threads_ask_at_once():
    started = threading.Barrier(8)
    calls = []

    def load():
        calls.append(1)
        return build_model(layers=2, width=512)

    loader = memopt.LazyModelLoader(load)
    seen = []

    def use():
        started.wait()
        seen.append(id(loader.model))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(set(seen)) == 1 and len(seen) == 8


def test_lazy_loader_retries_after_a_failed_load():
    attempts = []

    def load():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("checkpoint not mounted yet")
        return build_model(layers=1, width=256)

    loader = memopt.LazyModelLoader(load)
    with pytest.raises(OSError, match="not mounted"):
        loader.model
    assert not loader.loaded
    assert loader.model is not None and loader.loads == 1 and len(attempts) == 2


def test_model_cache_measures_costs_and_evicts_the_least_recently_used():
    cache = memopt.ModelCache("300M")
    assert cache.budget_bytes == 300 * MIB
    for name in ("maptr", "petr", "vad"):
        cache.add(name, build_model)  # 128 MiB each: two fit, three do not
    baseline = rss_of()
    cache.get("maptr")
    cache.get("petr")
    assert cache.loaded == ["petr", "maptr"]
    assert cache.cost_bytes("maptr") >= 120 * MIB
    cache.get("maptr")  # now the most recent: petr is the one to go
    cache.get("vad")
    assert cache.evictions() == ["petr"]
    assert cache.loaded == ["vad", "maptr"]
    assert cache.used_bytes <= cache.budget_bytes
    assert rss_of() - baseline <= 2 * 140 * MIB  # petr's memory went back


def test_model_cache_never_evicts_a_model_in_use():
    cache = memopt.ModelCache(200 * MIB)
    cache.add("a", build_model)
    cache.add("b", build_model)
    with cache.use("a") as model:
        assert isinstance(model, torch.nn.Module)
        with cache.use("b"):  # over budget, but both are in use
            assert set(cache.loaded) == {"a", "b"}
            assert not cache.evict("a")
        # "b" released over budget: it goes at once; "a" is in use and stays
        assert cache.evictions() == ["b"]
        assert not cache.evict("a")
    assert cache.loaded == ["a"]
    assert cache.evict("a")


def test_model_cache_errors():
    cache = memopt.ModelCache("1G")
    with pytest.raises(memopt.Error, match="no loader named 'missing'"):
        cache.get("missing")
    with pytest.raises(memopt.Error, match="size"):
        memopt.ModelCache("lots")
    with pytest.raises(ValueError, match="between 1"):
        memopt.ModelCache(0)

    def broken():
        raise RuntimeError("weights are corrupt")

    cache.add("broken", broken)
    with pytest.raises(RuntimeError, match="weights are corrupt"):
        cache.get("broken")
    assert cache.loaded == []
