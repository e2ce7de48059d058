"""The free heap monitor_memory_usage reports is what is still resident: pages malloc_trim
gave back to the kernel are not counted (mallinfo2's fordblks still counts them)."""

import ctypes

import memopt
from conftest import MIB

libc = ctypes.CDLL(None)


def test_free_heap_figure_drops_when_malloc_trim_returns_it():
    # 4000-byte objects come from malloc's brk heap (too big for pymalloc, too small for mmap).
    # Every 100th kept (and the last): the freed ones lie between live blocks, where free()
    # cannot give them back by shrinking the heap's top; only malloc_trim can.
    blocks = [bytes(4000) + bytes([i % 256]) for i in range(50_000)]
    kept = blocks[::100] + [blocks[-1]]
    del blocks
    freed = memopt.monitor_memory_usage("freed", gpu=False, log=False, detail=True)
    assert freed["heap_free_resident_bytes"] >= 150 * MIB, freed
    assert libc.malloc_trim(0) == 1
    trimmed = memopt.monitor_memory_usage("trimmed", gpu=False, log=False, detail=True)
    assert trimmed["heap_free_resident_bytes"] <= freed["heap_free_resident_bytes"] - 150 * MIB, trimmed
    # The old figure, mallinfo2's fordblks, still counts the returned pages.
    assert trimmed["heap_free_bytes"] >= 150 * MIB, trimmed
    assert len(kept) == 501


def test_cleanup_reports_the_resident_free_heap_before_and_after():
    blocks = [bytes(4000) + bytes([i % 256]) for i in range(50_000)]
    kept = blocks[::100] + [blocks[-1]]
    del blocks
    result = memopt.cleanup_gpu_memory()
    before = result["heap_free_resident_before_bytes"]
    after = result["heap_free_resident_after_bytes"]
    assert before >= 150 * MIB, result
    # malloc_trim returned the freed chunks' pages: they are no longer counted.
    assert after <= before - 150 * MIB, result
    assert "heap_free_before_bytes" not in result, result
    assert len(kept) == 501


def test_the_log_line_says_resident(capsys):
    memopt.monitor_memory_usage("line", gpu=False)
    line = capsys.readouterr().err
    assert ", heap free resident " in line, line
    assert "retained" not in line, line
