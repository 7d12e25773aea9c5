"""DynamicBatcher with fake batch functions: batching, waiting, dropping, retrying, lifecycle."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest

from service.batching.batcher import DynamicBatcher
from service.batching.policy import BatchPolicy
from service.metrics import Metrics
from service.runtime.errors import NotReady

pytestmark = pytest.mark.anyio

STAGE = "rec"
LABELS = {"stage": STAGE}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(gpu=False)


class FakeRun:
    """Doubles each payload; records every batch it saw. With ``hold``, a call blocks until the
    test sets it, keeping the worker busy so that submits pile up in the queue."""

    def __init__(self, hold: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, payloads: list[int]) -> Sequence[int]:
        self.batches.append(list(payloads))
        self.entered.set()
        assert self.release.wait(5), "test never released the worker"
        if any(p < 0 for p in payloads):
            raise ValueError(f"negative payload in {payloads}")
        if 99 in payloads:
            return [p * 2 for p in payloads][1:]  # one result short
        return [p * 2 for p in payloads]

    @property
    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]

    @property
    def seen(self) -> list[int]:
        return [p for b in self.batches for p in b]


async def until(pred: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


async def busy(b: DynamicBatcher[int, int], run: FakeRun, payload: int = 0) -> asyncio.Future[int]:
    """Submit one item and wait until the worker is inside ``run`` with it."""
    fut = b.submit("k", 1.0, payload)
    await until(run.entered.is_set)
    return fut


@asynccontextmanager
async def running(
    run: Callable[[list[int]], Sequence[int]],
    policy: BatchPolicy | None = None,
    **kwargs: object,
) -> AsyncIterator[DynamicBatcher[int, int]]:
    b: DynamicBatcher[int, int] = DynamicBatcher(
        STAGE,
        run,
        policy or BatchPolicy(max_batch=8, max_wait_s=0.002),
        **kwargs,  # type: ignore[arg-type]
    )
    b.start()
    try:
        yield b
    finally:
        if isinstance(run, FakeRun):
            run.release.set()
        await b.stop(drain=False)


async def test_results_map_back_to_their_futures() -> None:
    run = FakeRun(hold=True)
    async with running(run) as b:
        first = await busy(b, run, 100)
        futs = [b.submit("k", 1.0, i) for i in range(6)]
        run.release.set()
        assert await asyncio.gather(*futs) == [i * 2 for i in range(6)]
        assert await first == 200
        assert run.batches == [[100], [0, 1, 2, 3, 4, 5]]


async def test_submits_while_busy_share_one_batch(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    async with running(run, metrics=metrics) as b:
        first = await busy(b, run)
        futs = [b.submit("k", 1.0, i) for i in range(1, 6)]
        run.release.set()
        await asyncio.gather(first, *futs)
    assert run.sizes == [1, 5]
    assert b.batches == 2


async def test_max_batch_splits_a_pile() -> None:
    run = FakeRun(hold=True)
    async with running(run, BatchPolicy(max_batch=2, max_wait_s=0.002)) as b:
        first = await busy(b, run)
        futs = [b.submit("k", 1.0, i) for i in range(1, 6)]
        run.release.set()
        assert await asyncio.gather(*futs) == [2, 4, 6, 8, 10]
        await first
    assert run.sizes == [1, 2, 2, 1]
    assert run.seen == [0, 1, 2, 3, 4, 5], "batches keep arrival order"


async def test_keys_are_never_mixed() -> None:
    run = FakeRun(hold=True)
    async with running(run) as b:
        first = await busy(b, run)
        futs = [b.submit(key, 1.0, i) for i, key in enumerate("abab", start=1)]
        run.release.set()
        assert await asyncio.gather(*futs) == [2, 4, 6, 8]
        await first
    assert run.batches == [[0], [1, 3], [2, 4]], "key a (oldest) first, then key b"


async def test_cost_budget_closes_a_batch() -> None:
    run = FakeRun(hold=True)
    async with running(run, BatchPolicy(max_batch=8, max_cost=10.0, max_wait_s=0.002)) as b:
        first = await busy(b, run)
        futs = [b.submit("k", 4.0, i) for i in range(1, 6)]
        run.release.set()
        await asyncio.gather(first, *futs)
    assert run.sizes == [1, 2, 2, 1]


async def test_lone_submit_runs_at_once_when_nothing_is_expected() -> None:
    run = FakeRun()
    policy = BatchPolicy(max_batch=8, max_wait_s=5.0)
    async with running(run, policy, expecting=lambda: False) as b:
        start = time.monotonic()
        assert await b.submit("k", 1.0, 21) == 42
        assert time.monotonic() - start < 0.5


async def test_waits_for_max_wait_while_more_is_expected() -> None:
    run = FakeRun()
    policy = BatchPolicy(max_batch=8, max_wait_s=0.2)
    async with running(run, policy, expecting=lambda: True) as b:
        start = time.monotonic()
        fut = b.submit("k", 1.0, 1)
        await asyncio.sleep(0.1)
        assert not fut.done() and run.batches == []
        late = b.submit("k", 1.0, 2)  # joins the waiting batch
        assert await asyncio.gather(fut, late) == [2, 4]
        elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 1.0
    assert run.batches == [[1, 2]]


async def test_full_batch_runs_before_max_wait() -> None:
    run = FakeRun()
    policy = BatchPolicy(max_batch=3, max_wait_s=5.0)
    async with running(run, policy, expecting=lambda: True) as b:
        start = time.monotonic()
        futs = [b.submit("k", 1.0, i) for i in range(3)]
        assert await asyncio.gather(*futs) == [0, 2, 4]
        assert time.monotonic() - start < 0.5
    assert run.batches == [[0, 1, 2]]


async def test_poke_replans_when_upstream_leaves() -> None:
    run = FakeRun()
    upstream = [True]
    policy = BatchPolicy(max_batch=8, max_wait_s=5.0)
    async with running(run, policy, expecting=lambda: upstream[0]) as b:
        start = time.monotonic()
        fut = b.submit("k", 1.0, 5)
        await asyncio.sleep(0.02)
        assert not fut.done()
        upstream[0] = False
        b.poke()
        assert await fut == 10
        assert time.monotonic() - start < 0.5


async def test_cancelled_futures_are_dropped_before_compute(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    async with running(run, metrics=metrics) as b:
        first = await busy(b, run)
        futs = [b.submit("k", 1.0, i) for i in (1, 2, 3, 4)]
        futs[1].cancel()
        futs[3].cancel()
        run.release.set()
        assert await asyncio.gather(futs[0], futs[2]) == [2, 6]
        await first
    assert run.batches == [[0], [1, 3]]
    assert 2 not in run.seen and 4 not in run.seen
    assert metrics.registry.get_sample_value("ocr_batch_dropped_items_total", LABELS) == 2
    assert metrics.registry.get_sample_value("ocr_queue_depth", LABELS) == 0


async def test_a_failing_batch_is_retried_item_by_item(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    async with running(run, metrics=metrics) as b:
        first = await busy(b, run)
        good1, bad, good2 = (b.submit("k", 1.0, p) for p in (1, -1, 2))
        run.release.set()
        assert await good1 == 2
        assert await good2 == 4
        with pytest.raises(ValueError, match="negative"):
            await bad
        await first
    assert run.batches == [[0], [1, -1, 2], [1], [-1], [2]]
    assert metrics.registry.get_sample_value("ocr_batch_retries_total", LABELS) == 1


async def test_a_failing_lone_item_is_not_retried(metrics: Metrics) -> None:
    run = FakeRun()
    async with running(run, metrics=metrics) as b:
        with pytest.raises(ValueError):
            await b.submit("k", 1.0, -5)
        assert await b.submit("k", 1.0, 5) == 10
    assert run.batches == [[-5], [5]]
    assert metrics.registry.get_sample_value("ocr_batch_retries_total", LABELS) is None


async def test_cancelled_during_retry_does_not_strand_the_rest(metrics: Metrics) -> None:
    """An item cancelled while its retry runs must not leave the items after it unanswered."""
    entered_retry = threading.Event()
    release_retry = threading.Event()
    seen: list[list[int]] = []

    def run_batch(payloads: list[int]) -> list[int]:
        seen.append(list(payloads))
        if payloads == [7]:
            entered_retry.set()
            assert release_retry.wait(5)
        if len(payloads) > 1:
            raise ValueError("batch fails")
        return [p * 2 for p in payloads]

    async with running(run_batch, metrics=metrics) as b:
        futs = [b.submit("k", 1.0, p) for p in (6, 7, 8)]  # no await between: one batch
        await until(entered_retry.is_set)
        futs[1].cancel()  # its retry is running on the worker right now
        release_retry.set()
        assert await asyncio.wait_for(futs[2], 2) == 16
        assert await futs[0] == 12
        assert futs[1].cancelled()
        assert not b._task.done()  # type: ignore[union-attr]
    assert seen == [[6, 7, 8], [6], [7], [8]]


async def test_loop_survives_a_wrong_number_of_results(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    async with running(run, metrics=metrics) as b:
        first = await busy(b, run)
        ok, short = b.submit("k", 1.0, 3), b.submit("k", 1.0, 99)
        run.release.set()
        assert await ok == 6
        with pytest.raises(RuntimeError, match="results for"):
            await short
        await first
        with pytest.raises(RuntimeError, match="0 results for 1 items"):
            await b.submit("k", 1.0, 99)
        assert await asyncio.gather(*(b.submit("k", 1.0, i) for i in range(3))) == [0, 2, 4]
        assert not b._task.done()  # type: ignore[union-attr]
    assert metrics.registry.get_sample_value("ocr_batch_retries_total", LABELS) == 1


async def test_stop_drain_finishes_queued_work() -> None:
    run = FakeRun(hold=True)
    upstream = [False]
    b: DynamicBatcher[int, int] = DynamicBatcher(
        STAGE, run, BatchPolicy(max_batch=2, max_wait_s=5.0), expecting=lambda: upstream[0]
    )
    b.start()
    first = await busy(b, run)
    futs = [b.submit("k", 1.0, i) for i in range(1, 6)]
    upstream[0] = True  # even if more were expected: a draining batcher does not wait
    stopping = asyncio.create_task(b.stop(drain=True))
    await asyncio.sleep(0.01)
    with pytest.raises(NotReady):
        b.submit("k", 1.0, 9)
    assert not stopping.done()
    run.release.set()
    await asyncio.wait_for(stopping, 2)
    assert await first == 0
    assert [f.result() for f in futs] == [2, 4, 6, 8, 10]
    assert run.sizes == [1, 2, 2, 1]


async def test_stop_without_drain_cancels_queued_futures(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    b: DynamicBatcher[int, int] = DynamicBatcher(
        STAGE, run, BatchPolicy(max_batch=8, max_wait_s=0.002), metrics=metrics
    )
    b.start()
    first = await busy(b, run)
    futs = [b.submit("k", 1.0, i) for i in range(1, 4)]
    stopping = asyncio.create_task(b.stop(drain=False))
    await asyncio.sleep(0.01)
    assert all(f.cancelled() for f in futs)
    run.release.set()
    await asyncio.wait_for(stopping, 2)
    assert await first == 0, "the batch already running completes"
    assert run.batches == [[0]]
    assert metrics.registry.get_sample_value("ocr_queue_depth", LABELS) == 0


async def test_submit_before_start_or_after_stop_is_not_ready() -> None:
    b: DynamicBatcher[int, int] = DynamicBatcher(STAGE, FakeRun(), BatchPolicy())
    with pytest.raises(NotReady):
        b.submit("k", 1.0, 1)
    b.start()
    assert await b.submit("k", 1.0, 1) == 2
    await b.stop()
    with pytest.raises(NotReady) as info:
        b.submit("k", 1.0, 1)
    assert info.value.code == "NOT_READY"


async def test_a_shared_gate_never_lets_batches_overlap() -> None:
    lock = threading.Lock()
    active = [0]
    peak = [0]
    a_entered, a_release = threading.Event(), threading.Event()
    b_entered = threading.Event()

    def make(entered: threading.Event, release: threading.Event | None) -> Callable[..., list[int]]:
        def run_batch(payloads: list[int]) -> list[int]:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            entered.set()
            if release is not None:
                assert release.wait(5)
            time.sleep(0.002)
            with lock:
                active[0] -= 1
            return [p * 2 for p in payloads]

        return run_batch

    gate = threading.Semaphore(1)
    policy = BatchPolicy(max_batch=2, max_wait_s=0.002)
    async with (
        running(make(a_entered, a_release), policy, gate=gate) as ba,
        running(make(b_entered, None), policy, gate=gate) as bb,
    ):
        held = ba.submit("k", 1.0, 0)
        await until(a_entered.is_set)
        waiting = bb.submit("k", 1.0, 1)
        await asyncio.sleep(0.05)
        assert not b_entered.is_set(), "b ran while a held the gate"
        a_release.set()
        assert await asyncio.gather(held, waiting) == [0, 2]
        futs = [bt.submit("k", 1.0, i) for i in range(20) for bt in (ba, bb)]
        assert await asyncio.gather(*futs) == [i * 2 for i in range(20) for _ in range(2)]
    assert peak[0] == 1


async def test_queue_depth_gauge_follows_the_queue(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    async with running(run, metrics=metrics) as b:
        first = await busy(b, run)
        futs = [b.submit("k", 1.0, i) for i in range(1, 4)]
        assert b.depth == 3
        assert metrics.registry.get_sample_value("ocr_queue_depth", LABELS) == 3
        futs[0].cancel()
        run.release.set()
        await asyncio.gather(first, *futs[1:])
        assert b.depth == 0
        assert metrics.registry.get_sample_value("ocr_queue_depth", LABELS) == 0


async def test_batch_histograms_are_observed(metrics: Metrics) -> None:
    run = FakeRun(hold=True)
    async with running(run, metrics=metrics) as b:
        first = await busy(b, run)
        futs = [b.submit("k", 1.0, i) for i in range(1, 5)]
        run.release.set()
        await asyncio.gather(first, *futs)
    get = metrics.registry.get_sample_value
    assert get("ocr_batch_size_count", LABELS) == 2
    assert get("ocr_batch_size_sum", LABELS) == 5
    assert get("ocr_batch_size_bucket", {**LABELS, "le": "1.0"}) == 1
    assert get("ocr_batch_size_bucket", {**LABELS, "le": "4.0"}) == 2
    assert get("ocr_batch_wait_seconds_count", LABELS) == 5
    assert get("ocr_batch_duration_seconds_count", LABELS) == 2
