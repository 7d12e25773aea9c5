"""The pure batch policy ``plan``: tables of queues -> decisions, plus a property test."""

from __future__ import annotations

from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.batching.policy import BatchPolicy, Decision, Queued, plan


def q(*items: tuple[Hashable, float, float]) -> list[Queued]:
    """Queue from (key, cost, enqueued) triples."""
    return [Queued(key, cost, enqueued) for key, cost, enqueued in items]


def same_key(n: int, key: Hashable = "a", cost: float = 1.0, t0: float = 0.0) -> list[Queued]:
    return [Queued(key, cost, t0 + i * 0.001) for i in range(n)]


WAIT = 0.01  # max_wait_s of most rows
POLICY = BatchPolicy(max_batch=4, max_wait_s=WAIT)
COSTLY = BatchPolicy(max_batch=8, max_cost=10.0, max_wait_s=WAIT)

# (queue, now, policy, expecting, expected decision)
CASES = [
    pytest.param([], 0.0, POLICY, False, Decision(()), id="empty-idle"),
    pytest.param([], 0.0, POLICY, True, Decision(()), id="empty-expecting-idle"),
    pytest.param(q(("a", 1, 0.0)), 0.0, POLICY, False, Decision((0,)), id="lone-not-expecting-now"),
    pytest.param(
        q(("a", 1, 0.0)), 0.0, POLICY, True, Decision((), wake_at=WAIT), id="lone-expecting-waits"
    ),
    pytest.param(
        q(("a", 1, 1.0)),
        1.005,
        POLICY,
        True,
        Decision((), wake_at=1.0 + WAIT),
        id="lone-expecting-before-deadline",
    ),
    pytest.param(
        q(("a", 1, 1.0)), 1.0 + WAIT, POLICY, True, Decision((0,)), id="lone-expecting-at-deadline"
    ),
    pytest.param(q(("a", 1, 1.0)), 5.0, POLICY, True, Decision((0,)), id="lone-expecting-late"),
    pytest.param(same_key(6), 0.0, POLICY, False, Decision((0, 1, 2, 3)), id="max-batch-closes"),
    pytest.param(
        same_key(6), 0.0, POLICY, True, Decision((0, 1, 2, 3)), id="full-runs-before-deadline"
    ),
    pytest.param(same_key(4), 0.0, POLICY, True, Decision((0, 1, 2, 3)), id="exactly-full-runs"),
    pytest.param(same_key(3), 0.0, POLICY, True, Decision((), wake_at=WAIT), id="not-full-waits"),
    pytest.param(
        same_key(5, cost=3.0),
        0.0,
        COSTLY,
        False,
        Decision((0, 1, 2)),
        id="cost-budget-closes",
    ),
    pytest.param(
        same_key(5, cost=3.0),
        0.0,
        COSTLY,
        True,
        Decision((0, 1, 2)),
        id="cost-budget-full-runs-before-deadline",
    ),
    pytest.param(
        same_key(2, cost=5.0),
        0.0,
        COSTLY,
        True,
        Decision((0, 1)),
        id="cost-budget-exactly-met-runs",
    ),
    pytest.param(
        q(("a", 50.0, 0.0), ("a", 1.0, 0.001)),
        0.0,
        COSTLY,
        False,
        Decision((0,)),
        id="over-budget-item-runs-alone",
    ),
    pytest.param(
        q(("a", 50.0, 0.0)),
        0.0,
        COSTLY,
        True,
        Decision((0,)),
        id="over-budget-lone-item-runs-now",
    ),
    pytest.param(
        q(("a", 1.0, 0.0), ("a", 50.0, 0.001), ("a", 1.0, 0.002)),
        0.0,
        COSTLY,
        False,
        Decision((0,)),
        id="over-budget-item-closes-before-it",
    ),
    pytest.param(
        q(("a", 1, 0.0), ("b", 1, 0.001), ("a", 1, 0.002), ("b", 1, 0.003)),
        0.0,
        POLICY,
        False,
        Decision((0, 2)),
        id="other-key-never-mixed",
    ),
    pytest.param(
        q(("b", 1, 0.0), ("a", 1, 0.001), ("a", 1, 0.002), ("a", 1, 0.003), ("b", 1, 0.004)),
        0.0,
        POLICY,
        False,
        Decision((0, 4)),
        id="fifo-across-keys-oldest-key-first",
    ),
    pytest.param(
        q(("a", 1, 0.5), ("a", 1, 0.6), ("b", 1, 0.1)),
        0.0,
        POLICY,
        False,
        Decision((2,)),
        id="fifo-oldest-by-enqueued-not-index",
    ),
    pytest.param(
        q(("b", 1, 0.0), ("a", 1, 0.001), ("a", 1, 0.002)),
        0.005,
        POLICY,
        True,
        Decision((), wake_at=WAIT),
        id="deadline-from-oldest-item",
    ),
    pytest.param(
        q(("a", 1, 0.3), ("a", 1, 0.1), ("a", 1, 0.2)),
        1.0,
        BatchPolicy(max_batch=2, max_wait_s=WAIT),
        False,
        Decision((1, 2)),
        id="batch-in-arrival-order",
    ),
    pytest.param(
        same_key(3),
        0.0,
        BatchPolicy(max_batch=1, max_wait_s=WAIT),
        True,
        Decision((0,)),
        id="max-batch-one-never-waits",
    ),
    pytest.param(
        same_key(2),
        0.0,
        BatchPolicy(max_batch=4, max_wait_s=0.0),
        True,
        Decision((0, 1)),
        id="zero-wait-runs-at-once",
    ),
    pytest.param(
        q(((640, 480), 1, 0.0), ((640, 480), 1, 0.001), ((320, 480), 1, 0.002)),
        0.0,
        POLICY,
        False,
        Decision((0, 1)),
        id="tuple-keys",
    ),
]


@pytest.mark.parametrize(("queue", "now", "policy", "expecting", "expected"), CASES)
def test_plan(
    queue: list[Queued], now: float, policy: BatchPolicy, expecting: bool, expected: Decision
) -> None:
    assert plan(queue, now, policy, expecting) == expected


def test_wait_then_run_once_deadline_passes() -> None:
    queue = q(("a", 1, 2.0), ("a", 1, 2.004))
    first = plan(queue, 2.004, POLICY, expecting=True)
    assert first.take == ()
    assert first.wake_at is not None
    assert first.wake_at == pytest.approx(2.0 + WAIT)
    assert plan(queue, first.wake_at, POLICY, expecting=True).take == (0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"max_batch": 0}, "max_batch", id="max-batch-zero"),
        pytest.param({"max_batch": -3}, "max_batch", id="max-batch-negative"),
        pytest.param({"max_cost": 0.0}, "max_cost", id="max-cost-zero"),
        pytest.param({"max_cost": -1.0}, "max_cost", id="max-cost-negative"),
        pytest.param({"max_wait_s": -0.001}, "max_wait_s", id="max-wait-negative"),
    ],
)
def test_policy_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"max_batch": 1, "max_cost": 0.5, "max_wait_s": 0.0}, id="minimal"),
    ],
)
def test_policy_valid(kwargs: dict[str, float]) -> None:
    BatchPolicy(**kwargs)  # type: ignore[arg-type]


queued = st.builds(
    Queued,
    key=st.sampled_from(["a", "b", "c"]),
    cost=st.floats(min_value=0.0, max_value=20.0),
    enqueued=st.floats(min_value=0.0, max_value=1.0),
)
policies = st.builds(
    BatchPolicy,
    max_batch=st.integers(min_value=1, max_value=8),
    max_cost=st.none() | st.floats(min_value=0.5, max_value=40.0),
    max_wait_s=st.floats(min_value=0.0, max_value=0.5),
)


@settings(max_examples=300, deadline=None)
@given(
    queue=st.lists(queued, max_size=12),
    policy=policies,
    now=st.floats(min_value=0.0, max_value=2.0),
    expecting=st.booleans(),
)
def test_plan_properties(
    queue: list[Queued], policy: BatchPolicy, now: float, expecting: bool
) -> None:
    decision = plan(queue, now, policy, expecting)
    take = decision.take
    assert len(set(take)) == len(take)
    assert all(0 <= i < len(queue) for i in take)
    if not queue:
        assert decision == Decision(())
        return
    if not expecting:
        assert take, "nothing expected upstream: a non-empty queue never waits"
    if not take:
        assert decision.wake_at is not None
        assert decision.wake_at > now
        return
    items = [queue[i] for i in take]
    assert len({it.key for it in items}) == 1
    assert len(items) <= policy.max_batch
    if policy.max_cost is not None and len(items) > 1:
        assert sum(it.cost for it in items) <= policy.max_cost
    oldest = min(queue, key=lambda it: it.enqueued)
    assert items[0].key == oldest.key
    assert min(it.enqueued for it in items) == oldest.enqueued, "the oldest item is served"
    stamps = [it.enqueued for it in items]
    assert stamps == sorted(stamps), "a batch is in arrival order"
