"""SingleFlight: identical concurrent calls compute once; failures and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from service.runtime.singleflight import SingleFlight

pytestmark = pytest.mark.anyio


class Work:
    """A computation held until ``release`` is set; counts starts and cancellations."""

    def __init__(self, value: object = "result", error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.release = asyncio.Event()
        self.started = 0
        self.cancelled = 0

    def __call__(self) -> Callable[[], Awaitable[object]]:
        async def work() -> object:
            self.started += 1
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            if self.error is not None:
                raise self.error
            return self.value

        return work


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_identical_keys_compute_once() -> None:
    sf: SingleFlight[object] = SingleFlight()
    work = Work("page")
    tasks = [asyncio.create_task(sf.do("k", work())) for _ in range(5)]
    await settle()
    assert work.started == 1
    assert len(sf) == 1
    work.release.set()
    results = await asyncio.gather(*tasks)
    assert [r for r, _ in results] == ["page"] * 5
    assert [shared for _, shared in results] == [False, True, True, True, True]
    assert work.started == 1


async def test_different_keys_compute_separately() -> None:
    sf: SingleFlight[object] = SingleFlight()
    a, b = Work("a"), Work("b")
    ta = asyncio.create_task(sf.do("a", a()))
    tb = asyncio.create_task(sf.do("b", b()))
    await settle()
    assert len(sf) == 2
    a.release.set()
    b.release.set()
    assert await ta == ("a", False)
    assert await tb == ("b", False)
    assert (a.started, b.started) == (1, 1)


async def test_a_failure_is_shared_and_not_remembered() -> None:
    sf: SingleFlight[object] = SingleFlight()
    boom = ValueError("boom")
    work = Work(error=boom)
    tasks = [asyncio.create_task(sf.do("k", work())) for _ in range(3)]
    await settle()
    work.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(o is boom for o in outcomes)
    assert work.started == 1
    assert len(sf) == 0
    work.error = None
    assert await sf.do("k", work()) == ("result", False)
    assert work.started == 2, "the next call computes again"


async def test_a_cancelled_follower_does_not_cancel_the_work() -> None:
    sf: SingleFlight[object] = SingleFlight()
    work = Work("page")
    leader = asyncio.create_task(sf.do("k", work()))
    follower = asyncio.create_task(sf.do("k", work()))
    await settle()
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    work.release.set()
    assert await leader == ("page", False)
    assert work.cancelled == 0


async def test_a_cancelled_leader_does_not_cancel_the_work() -> None:
    sf: SingleFlight[object] = SingleFlight()
    work = Work("page")
    leader = asyncio.create_task(sf.do("k", work()))
    await settle()
    follower = asyncio.create_task(sf.do("k", work()))
    await settle()
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    work.release.set()
    assert await follower == ("page", True)
    assert work.cancelled == 0


async def test_the_work_is_cancelled_when_its_last_waiter_goes() -> None:
    sf: SingleFlight[object] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(sf.do("k", work())) for _ in range(2)]
    await settle()
    tasks[0].cancel()
    await settle()
    assert work.cancelled == 0, "one waiter is still there"
    tasks[1].cancel()
    for t in tasks:
        with pytest.raises(asyncio.CancelledError):
            await t
    await settle()
    assert work.cancelled == 1
    assert len(sf) == 0


async def test_a_new_call_after_the_last_waiter_left_computes_afresh() -> None:
    """The cancelled flight must not be joined by a caller arriving right after."""
    sf: SingleFlight[object] = SingleFlight()
    old = Work("old")
    gone = asyncio.create_task(sf.do("k", old()))
    await settle()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    new = Work("new")
    new.release.set()
    assert await sf.do("k", new()) == ("new", False)
    assert old.cancelled == 1


async def test_the_flight_is_forgotten_after_completion() -> None:
    sf: SingleFlight[object] = SingleFlight()
    work = Work("page")
    work.release.set()
    assert await sf.do("k", work()) == ("page", False)
    await settle()
    assert len(sf) == 0
    assert await sf.do("k", work()) == ("page", False)
    assert work.started == 2
