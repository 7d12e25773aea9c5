"""BatchedPipeline: OcrPipeline.run as a coroutine whose engine steps go through batchers.

The data flow is the synchronous pipeline's (service/ocr/pipeline.py), step for step, and the
answer is the same (tests/integration/test_batched.py); what differs is where the work runs:

- pre/post-processing (resize, DB post-processing, crops, CTC decoding) on a bounded CPU pool;
- each engine call in its stage's DynamicBatcher, where crops of concurrent requests share
  batches (rec: same width bucket; cls: one shape; det: same padded input shape).

``Flow`` tells each batcher whether a request upstream of it may still add items: a lone
request never waits for a fuller batch, and a batcher wakes when an upstream request leaves.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import numpy as np

from models.codec.topk import TopK
from service.ocr import classify
from service.ocr.crop import make_crops, sort_reading_order
from service.ocr.pipeline import OcrPipeline, assemble, decoder_for
from service.ocr.types import Crop, Detection, Image, OcrOptions, OcrResult, Pixels, Recognition
from service.runtime.stages import STAGES, StageBatchers

T = TypeVar("T")
PS = ParamSpec("PS")


class Flow:
    """Counts, per stage, the requests in flight that have not yet reached it."""

    def __init__(self) -> None:
        self.upstream = dict.fromkeys(STAGES, 0)
        self.on_leave: Callable[[str], None] = lambda stage: None

    def expecting(self, stage: str) -> bool:
        return self.upstream[stage] > 0

    @contextmanager
    def enter(self) -> Iterator[Callable[[str], None]]:
        """For one request; yields ``passed(stage)``, called once its items are queued there
        (or when it will never send any)."""
        pending = set(STAGES)
        for stage in STAGES:
            self.upstream[stage] += 1

        def passed(stage: str) -> None:
            if stage in pending:
                pending.discard(stage)
                self.upstream[stage] -= 1
                self.on_leave(stage)

        try:
            yield passed
        finally:
            for stage in list(pending):
                passed(stage)


class BatchedPipeline:
    def __init__(
        self, pipeline: OcrPipeline, batchers: StageBatchers, flow: Flow, cpu: Executor
    ) -> None:
        self.pipeline = pipeline
        self.batchers = batchers
        self.flow = flow
        self._cpu_pool = cpu
        by_stage = dict(zip(STAGES, batchers.all(), strict=True))
        flow.on_leave = lambda stage: by_stage[stage].poke()

    @property
    def name(self) -> str:
        return self.pipeline.name

    async def _cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cpu_pool, functools.partial(fn, *args, **kwargs))

    async def run(self, image: Image, options: OcrOptions) -> OcrResult:
        ms: dict[str, float] = {}
        with self.flow.enter() as passed:
            start = time.perf_counter()
            crops = await self._detect(image, options, passed)
            ms["det"] = _since(start)
            start = time.perf_counter()
            pixels, angles = await self._orient(crops, options, passed)
            ms["cls"] = _since(start)
            start = time.perf_counter()
            recs = await self._recognize(pixels, options, passed)
            ms["rec"] = _since(start)
        return assemble(self.pipeline, image, crops, angles, recs, options, ms)

    async def _detect(
        self, image: Image, options: OcrOptions, passed: Callable[[str], None]
    ) -> list[Crop]:
        det = self.pipeline.detector
        tensor, geometry = await self._cpu(det.preprocess, image, options.det)
        _, _, h, w = tensor.shape
        future = self.batchers.det.submit((h, w), float(h * w), tensor)
        passed("det")
        prob = await future
        detections = await self._cpu(det.postprocess, prob, geometry, options.det)
        return await self._cpu(_crops, image, detections)

    async def _orient(
        self, crops: list[Crop], options: OcrOptions, passed: Callable[[str], None]
    ) -> tuple[list[Pixels], list[int]]:
        pixels = [c.pixels for c in crops]
        if not options.use_cls or not crops:
            passed("cls")
            return pixels, [0] * len(pixels)
        clf = self.pipeline.classifier
        rows, owners = await self._cpu(clf.preprocess, pixels)
        futures = [self.batchers.cls.submit(0, 1.0, row) for row in rows]
        passed("cls")
        probs = np.stack(await asyncio.gather(*futures))
        results = classify.postprocess(probs, owners)
        upright = await self._cpu(classify.rotate_upright, pixels, results, options.cls_thresh)
        angles = [0 if u is p else 180 for u, p in zip(upright, pixels, strict=True)]
        return upright, angles

    async def _recognize(
        self, pixels: list[Pixels], options: OcrOptions, passed: Callable[[str], None]
    ) -> list[Recognition]:
        rec = self.pipeline.recognizer
        rows = await self._cpu(rec.preprocess, pixels)
        futures = [self.batchers.rec.submit(r.bucket, float(r.bucket), r) for r in rows]
        passed("rec")
        outputs: list[TopK] = list(await asyncio.gather(*futures))
        return await self._cpu(
            rec.postprocess, rows, outputs, len(pixels), decoder_for(options), options.word_boxes
        )


def _crops(image: Image, detections: list[Detection]) -> list[Crop]:
    return make_crops(image, sort_reading_order(detections))


def _since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
