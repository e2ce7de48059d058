"""LazyModelLoader and ModelCache against loaders that fail or re-enter (no torch needed)."""

import os
import subprocess
import sys
import threading
import time

import pytest

import memopt


def test_a_failing_load_is_one_attempt_with_one_shared_error():
    calls = []

    def load():
        calls.append(threading.get_ident())
        time.sleep(0.1)
        raise OSError("weights file missing")

    loader = memopt.LazyModelLoader(load)
    start = threading.Barrier(16)
    errors = []

    def ask():
        start.wait()
        try:
            loader.model
        except OSError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # Each waiter used to run load_fn again in turn (16 attempts, 1.6 s).
    assert len(calls) == 1, f"load_fn ran {len(calls)} times"
    assert len(errors) == 16
    assert all(e is errors[0] for e in errors)
    assert not loader.loaded
    # A later call, after that attempt, tries again.
    with pytest.raises(OSError):
        loader.model
    assert len(calls) == 2


def test_a_loader_that_asks_for_its_own_model_raises():
    loader = None

    def load():
        return loader.model

    loader = memopt.LazyModelLoader(load)
    with pytest.raises(memopt.Error, match="asked for the model it is loading"):
        loader.model


def run_bounded(code):
    """Runs `code` in a fresh interpreter that a deadlock cannot take down with this one."""
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)


def test_a_cache_loader_that_reenters_its_cache_raises_instead_of_deadlocking():
    result = run_bounded(
        "import memopt\n"
        "cache = memopt.ModelCache('1G')\n"
        "cache.add('a', lambda: cache.get('b'))\n"
        "cache.add('b', lambda: [1, 2, 3])\n"
        "try:\n"
        "    cache.get('a')\n"
        "except memopt.Error as e:\n"
        "    print('raised:', e)\n"
        "print('b still loads:', cache.get('b'))\n")
    assert result.returncode == 0, result.stderr
    assert "raised: model cache: a loader asked its own cache for 'b'" in result.stdout
    assert "b still loads: [1, 2, 3]" in result.stdout
