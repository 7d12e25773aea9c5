"""Admission by cost (issue 16): refuse at once what the server cannot hold or finish in time.

A request is admitted after its cache lookup, from its image header (nothing decoded yet):

- ``Cost``: the bytes it will hold (decoding peak, then the image and the detector's tensors)
  and its work (detector input megapixels plus a fixed part, in "units").
- ``MemoryBudget``: the sum of admitted requests' bytes stays under ``OCR_MEMORY_BUDGET_BYTES``.
  A request that does not fit now is refused (429); one that could never fit is too large (413).
- ``Backlog``: the server's measured rate (work units finished per busy second) turns the work in
  flight into an expected finishing time; a request expected to finish after the target (a
  fraction of the request timeout) is refused (429) instead of timing out later (504).

Both are plain counters, used from the event loop only; ``now`` is passed in so that tests can
drive them. Engine arenas (the detector's activations: ~200 B per input pixel) are bounded by
the batch caps and ``OCR_MAX_DET_PIXELS``, not here: one detector batch runs at a time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from service.ocr.decode import Header
from service.ocr.detect import TextDetector, bucket_shape, resized_shape
from service.ocr.errors import ImageTooLarge
from service.ocr.types import DetOptions
from service.runtime.errors import Overloaded

MB = 2**20
DET_BYTES_PER_PIXEL = 24  # detector input (float32 x 3), its resize, probability map, bitmap
HELD_BYTES_PER_PIXEL = 4  # the decoded image (BGR) and its crops, until the request ends
BASE_UNITS = 0.05  # work of an image with no pixels, in detector megapixels (~25 ms here)


@dataclass(frozen=True)
class Cost:
    decode_bytes: int  # held while decoding (the decoder's peak, the body, the detector's part)
    held_bytes: int  # held after decoding, until the request ends
    units: float  # work: detector input megapixels + BASE_UNITS


def det_pixels(detector: TextDetector, header: Header, opts: DetOptions) -> int:
    """The detector's input pixels for this image: what it costs to detect (padding included)."""
    h, w = resized_shape(header.height, header.width, opts, detector.max_side, detector.max_pixels)
    h, w = bucket_shape(h, w, detector.buckets)
    return h * w


def estimate(header: Header, det_px: int, body_bytes: int) -> Cost:
    det = det_px * DET_BYTES_PER_PIXEL
    return Cost(
        decode_bytes=header.decode_bytes + det + body_bytes,
        held_bytes=header.pixels * HELD_BYTES_PER_PIXEL + det,
        units=det_px / 1e6 + BASE_UNITS,
    )


def document_cost(pages: Sequence[Cost], body_bytes: int, at_once: int) -> Cost:
    """A PDF's cost: the work of every page, and the bytes of the ``at_once`` largest pages
    (that many are rendered and read at a time), held until the document is done."""
    largest = sorted((c.decode_bytes for c in pages), reverse=True)[:at_once]
    nbytes = sum(largest) + body_bytes
    return Cost(decode_bytes=nbytes, held_bytes=nbytes, units=sum(c.units for c in pages))


class Hold:
    """Bytes one request holds in a ``MemoryBudget``; released when its context ends, or, while
    ``pending`` (a decode that outlives its request: threads cannot be stopped), when that ends."""

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self.budget = budget
        self.nbytes = nbytes
        self.pending: Future[Any] | None = None

    def lower(self, nbytes: int) -> None:
        drop = max(0, self.nbytes - nbytes)
        self.nbytes -= drop
        self.budget.used -= drop

    def release(self) -> None:
        self.lower(0)


class MemoryBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def check(self, nbytes: int, retry_after_s: int) -> None:
        if nbytes > self.limit:
            raise ImageTooLarge(
                f"reading this image needs ~{nbytes // MB} MB; this server reads at most "
                f"{self.limit // MB} MB at once: send fewer pixels"
            )
        if self.used + nbytes > self.limit:
            raise Overloaded(
                f"{self.used // MB} MB of images being read; {nbytes // MB} MB more would pass "
                f"the memory budget ({self.limit // MB} MB)",
                retry_after_s=retry_after_s,
            )

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[Hold]:
        """Call on the event loop (``used`` is the loop's); ``check`` first."""
        held = Hold(self, nbytes)
        self.used += nbytes
        try:
            yield held
        finally:
            job = held.pending
            if job is None or job.done():
                held.release()
            else:
                loop = asyncio.get_running_loop()
                job.add_done_callback(lambda _: loop.call_soon_threadsafe(held.release))


class Backlog:
    """Work units in flight, and the rate the server finishes them at: units finished per
    second with work in flight, over the last ``horizon_s`` such seconds (a prior of
    ``prior_rate`` weighs ``prior_s`` of them). The rate changes only when a request finishes:
    a burst that has not finished anything yet says nothing about the rate."""

    def __init__(self, prior_rate: float, prior_s: float = 3.0, horizon_s: float = 30.0) -> None:
        self.units = 0.0
        self.rate = prior_rate
        self.horizon_s = horizon_s
        self._done = prior_rate * prior_s  # decayed units finished
        self._busy = prior_s  # decayed seconds with work in flight
        self._last: float | None = None

    def expected_s(self, units: float) -> float:
        """When a request of ``units`` admitted now should finish (everything in flight first)."""
        return (self.units + units) / self.rate

    def start(self, units: float, now: float) -> None:
        self._advance(now)
        self.units += units

    def finish(self, units: float, now: float, done: bool) -> None:
        """A request left; ``done``: it finished its work (a cancelled one taught us nothing)."""
        self._advance(now)
        self.units = max(0.0, self.units - units)
        if done:
            self._done += units
            self.rate = self._done / self._busy

    def _advance(self, now: float) -> None:
        if self._last is not None and self.units > 0:
            dt = max(0.0, now - self._last)
            keep = math.exp(-dt / self.horizon_s)
            self._done *= keep
            self._busy = self._busy * keep + dt
        self._last = now
