"""The batch policy: pure, so it is tested as a table (tests/unit/test_batch_policy.py).

Given what waits in a stage queue, when should the next batch close and what goes in it?

- Items only batch with items of the same ``key`` (rec: width bucket; det: padded input shape;
  cls: one fixed shape), because a batch is one stacked tensor.
- Items wait in line by ``place``: their arrival time, or the ``turn`` the batcher gave them
  (batcher.py: a small request's items count as arrived earlier); ties in queue order.
- The key served next is that of the first item in line (FIFO across keys, so a rare shape is
  never starved).
- A batch takes that key's items in line order until ``max_batch`` items or the padded
  ``max_cost`` budget (rec: rows x bucket width; det: images x padded H x W) would be exceeded.
  A single item over budget still runs alone.
- It closes now when it is full, when its oldest item has waited ``max_wait_s``, or when no more
  items are expected (no request upstream of this stage that could still add one): a lone
  request on an idle server never waits. Otherwise the caller should wake at ``wake_at``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    max_batch: int = 16
    max_cost: float | None = None  # padded-cost budget per batch; None = count limit only
    max_wait_s: float = 0.002

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ValueError("max_cost must be positive")
        if self.max_wait_s < 0:
            raise ValueError("max_wait_s must be >= 0")


@dataclass(frozen=True)
class Queued:
    """What the policy sees of a queued item."""

    key: Hashable
    cost: float
    enqueued: float  # monotonic seconds
    turn: float | None = None  # its place in line (monotonic seconds); None: ``enqueued``

    @property
    def place(self) -> float:
        return self.enqueued if self.turn is None else self.turn


@dataclass(frozen=True)
class Decision:
    take: tuple[int, ...]  # queue indices forming the batch now (empty: wait)
    wake_at: float | None = None  # when to decide again if nothing else happens (None: idle)


def plan(queue: Sequence[Queued], now: float, policy: BatchPolicy, expecting: bool) -> Decision:
    """The next batch to run, or how long to wait for a fuller one. Pure."""
    if not queue:
        return Decision(())
    order = sorted(range(len(queue)), key=lambda i: queue[i].place)  # line order (stable)
    head = order[0]
    key = queue[head].key
    take: list[int] = []
    cost = 0.0
    full = False
    for i in order:
        item = queue[i]
        if item.key != key:
            continue
        over = policy.max_cost is not None and take and cost + item.cost > policy.max_cost
        if len(take) == policy.max_batch or over:
            full = True
            break
        take.append(i)
        cost += item.cost
    full = full or len(take) == policy.max_batch
    if policy.max_cost is not None and cost >= policy.max_cost:
        full = True
    deadline = queue[head].enqueued + policy.max_wait_s
    if full or not expecting or now >= deadline:
        return Decision(tuple(take))
    return Decision((), wake_at=deadline)
