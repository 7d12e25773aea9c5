"""Single flight: concurrent identical requests compute once.

The computation runs in a task of its own; each caller awaits it through ``asyncio.shield``.
A caller that goes away (disconnect, timeout) does not cancel the work others wait for; the
work is cancelled only when its last waiter has gone. Failures are shared by the waiters of
that flight and never remembered: the next call computes again. Scope: one process.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def do(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(result, shared): ``shared`` is True when another caller's flight answered."""
        flight = self._flights.get(key)
        shared = flight is not None
        if flight is None:
            flight = _Flight(asyncio.ensure_future(work()))
            self._flights[key] = flight
            flight.task.add_done_callback(functools.partial(self._forget, key, flight))
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task), shared
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()
                if self._flights.get(key) is flight:  # a caller arriving now starts afresh
                    del self._flights[key]
            raise
        finally:
            flight.waiters -= 1

    def _forget(self, key: Hashable, flight: _Flight[T], _task: object) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.task.cancelled():
            flight.task.exception()  # mark retrieved: a failure with no waiter left is not "lost"
