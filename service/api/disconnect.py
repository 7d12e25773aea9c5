"""Run a request's work, cancelling it when the client goes away.

Starlette does not cancel a handler when its client disconnects; without this, a client that
gave up would still have its crops queued and computed. Cancelling the work cancels the
futures of its queued items, and the batchers drop those before they cost compute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")
POLL_S = 0.05


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_watch(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    raise ClientGone()


async def _watch(request: Request) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(POLL_S)
