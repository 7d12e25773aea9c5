"""A tiny request is not stalled by a dense page (issue 16, case 6): the batcher puts a small
request's items in line as if they had arrived earlier (a ``turn``). The pure policy as tables
(turns given), then the batcher that gives them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.batching.batcher import DynamicBatcher
from service.batching.policy import BatchPolicy, Decision, Queued, plan
from tests.unit.test_batcher import FakeRun, busy, running, until

ONE = BatchPolicy(max_batch=1, max_wait_s=0.0)
TWO = BatchPolicy(max_batch=2, max_wait_s=0.0)
WIDTH = BatchPolicy(max_batch=8, max_cost=960.0, max_wait_s=0.0)


def request(turn: float, n: int, key: Hashable = "a", cost: float = 1.0) -> list[Queued]:
    """``n`` items in line from ``turn`` on, one unit apart."""
    return [Queued(key, cost, turn, turn + k) for k in range(n)]


DENSE = request(0.0, 6)  # turns 0, 1, ..., 5
TINY = request(2.5, 2)  # 2.5, 3.5

# (queue, policy, expected decision); nothing is expected upstream, so every plan runs now
CASES = [
    pytest.param(DENSE + TINY, ONE, Decision((0,)), id="first-in-line-first"),
    pytest.param(DENSE[3:] + TINY, ONE, Decision((3,)), id="tiny-before-the-dense-rows-due-later"),
    pytest.param(DENSE[3:] + TINY, TWO, Decision((3, 0)), id="batch-fills-in-line-order"),
    pytest.param(
        request(0.0, 4, cost=960.0) + request(0.5, 1, cost=320.0),
        WIDTH,
        Decision((0,)),
        id="cost-cap-still-applies",
    ),
    pytest.param(
        request(0.0, 3, key="wide")[1:] + request(0.2, 2, key="narrow"),
        TWO,
        Decision((2, 3)),
        id="another-key-first-in-line-goes-next",
    ),
    pytest.param(
        [Queued("a", 1.0, 0.5 - 0.1 * i) for i in range(5)],
        BatchPolicy(max_batch=3, max_wait_s=0.0),
        Decision((4, 3, 2)),
        id="no-turns-is-arrival-order",
    ),
    pytest.param(
        [Queued("a", 1.0, 0.0, 2.0), Queued("a", 1.0, 0.1, 1.0), Queued("a", 1.0, 0.2, 1.0)],
        TWO,
        Decision((1, 2)),
        id="equal-turns-in-queue-order",
    ),
]


@pytest.mark.parametrize(("queue", "policy", "expected"), CASES)
def test_plan_in_line_order(queue: list[Queued], policy: BatchPolicy, expected: Decision) -> None:
    assert plan(queue, 10.0, policy, expecting=False) == expected


def test_a_new_request_waits_for_the_wait_of_its_own_first_item() -> None:
    queue = [*request(0.0, 3)[2:], Queued("a", 1.0, 1.0, 1.0)]  # turns 2.0 and 1.0
    decision = plan(queue, 1.0, BatchPolicy(max_batch=4, max_wait_s=0.01), expecting=True)
    assert decision == Decision((), wake_at=1.01)


queued = st.builds(
    Queued,
    key=st.sampled_from(["a", "b"]),
    cost=st.floats(min_value=0.0, max_value=5.0),
    enqueued=st.floats(min_value=0.0, max_value=1.0),
    turn=st.none() | st.floats(min_value=0.0, max_value=3.0),
)


@settings(max_examples=300, deadline=None)
@given(queue=st.lists(queued, min_size=1, max_size=12))
def test_the_first_in_line_is_always_served(queue: list[Queued]) -> None:
    decision = plan(queue, 5.0, BatchPolicy(max_batch=3, max_wait_s=0.0), expecting=False)
    first = min(queue, key=lambda it: it.place)
    places = [queue[i].place for i in decision.take]
    assert places[0] == first.place and places == sorted(places)


class Stepper:
    """A batch function that runs one batch per permit the test gives."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)
        self.seen: list[int] = []

    def __call__(self, payloads: list[int]) -> list[int]:
        assert self.permits.acquire(timeout=5), "test never gave a permit"
        self.seen.extend(payloads)
        return payloads


async def _served_order(newcomer_rows: int, jump_s: float = 10.0) -> list[int]:
    """40 rows of a dense request (payloads 100...), 5 of them served, then a newcomer's rows
    (payloads 0...): the order the batcher ran them in, one row per batch."""
    run = Stepper()
    policy = BatchPolicy(max_batch=1, max_wait_s=0.0)
    b: DynamicBatcher[int, int] = DynamicBatcher("rec", run, policy, small=4, small_jump_s=jump_s)
    b.start()
    try:
        dense = [b.submit("k", 1.0, 100 + i, 40) for i in range(40)]
        for _ in range(5):
            run.permits.release()
        await until(lambda: len(run.seen) == 5)  # the sixth is chosen already
        new = [b.submit("k", 1.0, i, newcomer_rows) for i in range(newcomer_rows)]
        for _ in range(40 + newcomer_rows):
            run.permits.release()
        await asyncio.gather(*dense, *new)
    finally:
        await b.stop(drain=False)
    return run.seen


@pytest.mark.anyio
async def test_a_small_request_goes_next() -> None:
    order = await _served_order(newcomer_rows=2)
    assert order[6:8] == [0, 1], order


@pytest.mark.anyio
async def test_a_request_of_ordinary_size_waits_its_turn() -> None:
    order = await _served_order(newcomer_rows=12)
    assert order == [*range(100, 140), *range(12)]


@pytest.mark.anyio
async def test_a_small_request_jumps_only_so_far() -> None:
    order = await _served_order(newcomer_rows=2, jump_s=0.0)
    assert order[-2:] == [0, 1], order


@pytest.mark.anyio
async def test_the_rows_of_a_request_keep_their_order() -> None:
    run = FakeRun(hold=True)
    async with running(run, BatchPolicy(max_batch=2, max_wait_s=0.0)) as b:
        first = await busy(b, run, 0)
        futs = [b.submit("k", 1.0, i, 5) for i in range(1, 6)]
        run.release.set()
        await asyncio.gather(first, *futs)
    assert run.seen == [0, 1, 2, 3, 4, 5]
