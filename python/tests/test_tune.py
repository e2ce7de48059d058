"""tune(gc_interval_s=...): the seed's periodic gc.collect(), opt-in, counted, stoppable."""

import gc
import time

import pytest

import memopt


def wait_for(condition, timeout_s=30.0):
    """Polls until condition() holds (a deadline against a hang, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def make_cycles(count):
    for _ in range(count):
        cycle = []
        cycle.append(cycle)


@pytest.fixture
def untuned():
    """tune() leaves the thresholds as they were, the automatic collector off (so only the
    periodic one finds the test's cycles); everything restored after."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.collect()
    gc.disable()
    yield dict(gc_threshold=threshold, trim_threshold_bytes=None, arena_max=None)
    memopt.tune(gc_threshold=threshold, trim_threshold_bytes=None, arena_max=None)
    if enabled:
        gc.enable()


def test_the_periodic_collector_counts_what_it_collects_and_stops(untuned):
    result = memopt.tune(gc_interval_s=0.02, **untuned)
    collector = result["periodic_gc"]
    assert isinstance(collector, memopt.PeriodicCollector)
    try:
        assert collector.running and collector.interval_s == 0.02
        make_cycles(5000)
        assert wait_for(lambda: collector.total_collected >= 5000), collector
        assert collector.runs >= 1
        assert collector.last_collected is not None and collector.last_collected >= 0
        status = collector.status()
        assert status["total_collected"] >= 5000 and status["running"] is True
        # A later tune() without an interval reports the running collector, untouched.
        assert memopt.tune(**untuned)["periodic_gc"] is collector
    finally:
        collector.stop()
    assert not collector.running
    runs, total = collector.runs, collector.total_collected
    make_cycles(1000)
    time.sleep(0.1)  # several intervals: a stopped collector must not run again
    assert (collector.runs, collector.total_collected) == (runs, total)
    assert memopt.tune(**untuned)["periodic_gc"] is None
    collector.stop()  # idempotent


def test_a_new_interval_replaces_the_running_collector(untuned):
    first = memopt.tune(gc_interval_s=60, **untuned)["periodic_gc"]
    second = memopt.tune(gc_interval_s=0.02, **untuned)["periodic_gc"]
    try:
        assert second is not first
        assert not first.running and second.running
        assert first.runs == 0  # stopped before its first minute was up
        assert "running" in repr(second)
    finally:
        second.stop()


@pytest.mark.parametrize("bad", [0, -1, True, "5", float("nan"), float("inf")])
def test_a_bad_interval_is_a_value_error(bad):
    with pytest.raises(ValueError, match="gc_interval_s"):
        memopt.tune(gc_interval_s=bad, trim_threshold_bytes=None, arena_max=None,
                    gc_threshold=gc.get_threshold())
