"""DynamicBatcher: the async shell around the pure policy, one per stage and engine session.

Callers ``submit`` items and await a future each. One loop task per batcher forms batches with
``policy.plan`` and runs them, one at a time, on the batcher's own worker thread: the engine
session has exactly one owner and never runs on the event loop. Guarantees:

- Small requests do not wait behind large ones: the items of a request that submits at most
  ``small`` items at once (a word, a tiny image) are put in line as if they had arrived
  ``small_jump_s`` earlier (their ``turn``; the policy serves turns in order), so a tiny image
  is read between a dense page's rows instead of after all of them. Everything else is served
  in arrival order: fair queueing per row between all requests (tried) gave receipts at 8
  clients a higher p95 and no more throughput (docs/benchmarks.md).
- Background work (the pages of asynchronous jobs) is put in line ``lag_s`` later than it came
  (OCR_JOB_LAG_S, 10 s), so every interactive item queued meanwhile goes
  first, and a job page waiting longer than that still gets its turn (no starvation).
- Items whose future was cancelled (client gone, request timed out) are dropped before they
  cost compute.
- A failing batch is retried item by item, so one bad item cannot fail its neighbours.
- The loop never dies: every error lands on the futures it concerns; the loop carries on.
- ``stop(drain=True)`` finishes everything already queued before the loop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.batching.policy import BatchPolicy, Queued, plan
from service.metrics import Metrics
from service.runtime.errors import NotReady

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")
log = logging.getLogger(__name__)

RunBatch = Callable[[list[P]], Sequence[R]]
SMALL = 8  # a request of at most this many items (rows, crops) ...
SMALL_JUMP_S = 10.0  # ... is served as if it had come this much earlier


@dataclass
class _Item(Generic[P, R]):
    key: Hashable
    cost: float
    payload: P
    future: asyncio.Future[R]
    enqueued: float = field(default_factory=time.monotonic)
    turn: float = 0.0


class DynamicBatcher(Generic[P, R]):
    def __init__(
        self,
        stage: str,
        run_batch: RunBatch[P, R],
        policy: BatchPolicy,
        *,
        metrics: Metrics | None = None,
        expecting: Callable[[], bool] = lambda: False,
        gate: threading.Semaphore | None = None,
        small: int = SMALL,
        small_jump_s: float = SMALL_JUMP_S,
    ) -> None:
        self.stage = stage
        self.small = small
        self.small_jump_s = small_jump_s
        self.policy = policy
        self._run_batch = run_batch
        self._metrics = metrics
        self._expecting = expecting
        self._gate = gate  # bounds engine calls running at once across all stages
        self._queue: list[_Item[P, R]] = []
        self._wake = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ocr-{stage}")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # counters for tests and logs
        self.item_seconds = 0.0  # exponential moving average of engine time per item

    # -- producer side -------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._queue)

    def submit(
        self, key: Hashable, cost: float, payload: P, count: int = 1, lag_s: float = 0.0
    ) -> asyncio.Future[R]:
        """Queue one of the ``count`` items its request sends at once; ``lag_s`` puts it in line
        as if it had come that much later (background work: job pages)."""
        if self._closing or self._task is None:
            raise NotReady(f"the {self.stage} batcher is not running")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        turn = (now - self.small_jump_s if count <= self.small else now) + lag_s
        self._queue.append(_Item(key, cost, payload, fut, now, turn))
        self._depth_changed(+1)
        self._wake.set()
        return fut

    def poke(self) -> None:
        """Re-plan now: an upstream request left without submitting (``expecting`` changed)."""
        self._wake.set()

    async def call_alone(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker thread between batches (the engine's one owner), gated."""
        if self._task is None or self._closing:
            return
        await asyncio.get_running_loop().run_in_executor(self._pool, self._gated, fn)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name=f"batcher-{self.stage}"
            )

    async def stop(self, drain: bool = True) -> None:
        self._closing = True
        if not drain:
            for item in self._queue:
                item.future.cancel()
        self._wake.set()
        if self._task is not None:
            await self._task
        self._pool.shutdown(wait=True)

    # -- the loop ------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                if not await self._step():
                    return
            except Exception:  # never dies: log and keep serving
                log.exception("%s batcher loop error", self.stage)
                await asyncio.sleep(0.01)

    async def _step(self) -> bool:
        """One round: run a batch, or wait. False once closing and empty."""
        self._drop_cancelled()
        if not self._queue:
            if self._closing:
                return False
            await self._wait(None)
            return True
        now = time.monotonic()
        view = [Queued(i.key, i.cost, i.enqueued, i.turn) for i in self._queue]
        decision = plan(view, now, self.policy, expecting=self._expecting() and not self._closing)
        if not decision.take:
            await self._wait(decision.wake_at)
            return True
        chosen = set(decision.take)
        batch = [self._queue[i] for i in decision.take]
        self._queue = [it for i, it in enumerate(self._queue) if i not in chosen]
        self._depth_changed(-len(batch))
        await self._run(batch, now)
        return True

    async def _wait(self, wake_at: float | None) -> None:
        self._wake.clear()
        timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _drop_cancelled(self) -> None:
        live = [it for it in self._queue if not it.future.done()]
        dropped = len(self._queue) - len(live)
        if dropped:
            self._queue = live
            self._depth_changed(-dropped)
            if self._metrics:
                self._metrics.dropped_items.labels(self.stage).inc(dropped)

    async def _run(self, batch: list[_Item[P, R]], now: float) -> None:
        m = self._metrics
        if m:
            m.batch_size.labels(self.stage).observe(len(batch))
            for it in batch:
                m.batch_wait.labels(self.stage).observe(now - it.enqueued)
        start = time.perf_counter()
        try:
            results = await self._call([it.payload for it in batch])
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
            else:
                await self._retry_one_by_one(batch, exc)
        else:
            for it, res in zip(batch, results, strict=True):
                if not it.future.done():
                    it.future.set_result(res)
        elapsed = time.perf_counter() - start
        self.batches += 1
        self.item_seconds = 0.8 * self.item_seconds + 0.2 * elapsed / len(batch)
        if m:
            m.batch_latency.labels(self.stage).observe(elapsed)

    async def _retry_one_by_one(self, batch: list[_Item[P, R]], exc: Exception) -> None:
        log.warning(
            "%s batch of %d failed (%s); retrying item by item", self.stage, len(batch), exc
        )
        if self._metrics:
            self._metrics.batch_retries.labels(self.stage).inc()
        for it in batch:
            if it.future.done():
                continue
            try:
                (res,) = await self._call([it.payload])
            except Exception as item_exc:
                _fail(it, item_exc)
            else:
                if not it.future.done():  # cancelled while its retry ran
                    it.future.set_result(res)

    async def _call(self, payloads: list[P]) -> Sequence[R]:
        loop = asyncio.get_running_loop()
        run = functools.partial(self._run_batch, payloads)
        results = await loop.run_in_executor(self._pool, self._gated, run)
        if len(results) != len(payloads):
            raise RuntimeError(f"{self.stage}: {len(results)} results for {len(payloads)} items")
        return results

    def _gated(self, fn: Callable[[], T]) -> T:
        if self._gate is None:
            return fn()
        with self._gate:
            return fn()

    def _depth_changed(self, delta: int) -> None:
        # inc/dec, not set: every model set has a batcher per stage, the gauge is their sum
        if self._metrics:
            self._metrics.queue_depth.labels(self.stage).inc(delta)


def _fail(item: _Item[P, R], exc: Exception) -> None:
    if not item.future.done():
        item.future.set_exception(exc)
