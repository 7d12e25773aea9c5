"""The server's ``Steps``: the one reading flow (``OcrPipeline.read``) with its engine steps
sent through the cross-request batchers and its CPU work to a bounded thread pool.

- pre/post-processing (resize, DB post-processing + crops, CTC decoding) on the CPU pool;
- each engine step in its stage's DynamicBatcher, where crops of concurrent requests share
  batches (rec: same width bucket; cls: one shape; det: same padded input shape).

``Flow`` tells each batcher whether a request upstream of it may still add items: a lone
request never waits for a fuller batch, and a batcher wakes when an upstream request leaves.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from models.codec.topk import TopK
from service.engines.base import Tensor
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import RecRow
from service.ocr.steps import STAGES
from service.ocr.types import Image, OcrOptions, OcrResult
from service.runtime.stages import StageBatchers

T = TypeVar("T")
PS = ParamSpec("PS")


async def on_pool(pool: Executor, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
    """``fn(*args, **kwargs)`` on a thread pool, awaited from the event loop."""
    call = functools.partial(fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


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


class BatchedSteps:
    """One request's steps: engine work queued on the batchers, CPU work on the pool."""

    def __init__(
        self,
        batchers: StageBatchers,
        passed: Callable[[str], None],
        cpu_pool: Executor,
        lag_s: float = 0.0,
    ) -> None:
        self.batchers = batchers
        self.skip = passed
        self._pool = cpu_pool
        self._lag_s = lag_s  # > 0: background work, behind interactive requests

    async def cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        return await on_pool(self._pool, fn, *args, **kwargs)

    async def det(self, tensor: Tensor) -> Tensor:
        _, _, h, w = tensor.shape
        future = self.batchers.det.submit((h, w), float(h * w), tensor, 1, self._lag_s)
        self.skip("det")
        return await future

    async def cls(self, rows: Sequence[Tensor]) -> list[Tensor]:
        n, lag = len(rows), self._lag_s
        futures = [self.batchers.cls.submit(0, 1.0, row, n, lag) for row in rows]
        self.skip("cls")
        return list(await asyncio.gather(*futures))

    async def rec(self, rows: Sequence[RecRow]) -> list[TopK]:
        n, lag = len(rows), self._lag_s
        futures = [self.batchers.rec.submit(r.bucket, float(r.bucket), r, n, lag) for r in rows]
        self.skip("rec")
        return list(await asyncio.gather(*futures))


class ServedSet:
    """A model set as the server runs it: its pipeline, batchers and flow counters."""

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

    async def read(self, image: Image, options: OcrOptions, lag_s: float = 0.0) -> OcrResult:
        with self.flow.enter() as passed:
            steps = BatchedSteps(self.batchers, passed, self._cpu_pool, lag_s)
            return await self.pipeline.read(image, options, steps)
