"""glibc memory policy at start-up (OCR_MALLOC_MMAP_THRESHOLD, OCR_MALLOC_ARENA_MAX): 0 leaves
glibc alone, a value sets it, and neither breaks allocation afterwards, in threads too."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.runtime.memory import set_malloc_policy, trim_heap


def _fill_and_free() -> int:
    buf = np.ones(4 * 2**20, np.uint8)  # over the threshold: its own mapping
    return int(buf.sum())


@pytest.mark.parametrize(("threshold", "arenas"), [(0, 0), (2**20, 1), (4 * 2**20, 2)])
def test_large_buffers_still_allocate_and_free(threshold: int, arenas: int) -> None:
    set_malloc_policy(threshold, arenas)
    assert _fill_and_free() == 4 * 2**20
    with ThreadPoolExecutor(4) as pool:  # threads share the capped arenas
        assert list(pool.map(lambda _: _fill_and_free(), range(8))) == [4 * 2**20] * 8
    trim_heap()
