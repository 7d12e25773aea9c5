"""glibc memory policy at start-up (OCR_MALLOC_MMAP_THRESHOLD): 0 leaves glibc alone, a size
sets the threshold, and neither breaks allocation afterwards."""

from __future__ import annotations

import numpy as np
import pytest

from service.runtime.memory import map_large_allocations, trim_heap


@pytest.mark.parametrize("threshold", [0, 2**20])
def test_large_buffers_still_allocate_and_free(threshold: int) -> None:
    map_large_allocations(threshold)
    buf = np.ones(4 * 2**20, np.uint8)  # over the threshold: its own mapping
    assert int(buf.sum()) == 4 * 2**20
    del buf
    trim_heap()
