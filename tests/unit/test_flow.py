"""Flow: per-stage count of requests in flight that have not yet reached that stage."""

from __future__ import annotations

import pytest

from service.ocr.steps import STAGES
from service.runtime.batched import Flow


def make() -> tuple[Flow, list[str]]:
    flow = Flow()
    left: list[str] = []
    flow.on_leave = left.append
    return flow, left


def test_idle_flow_expects_nothing() -> None:
    flow, _ = make()
    assert flow.upstream == dict.fromkeys(STAGES, 0)
    assert not any(flow.expecting(s) for s in STAGES)


def test_enter_counts_upstream_per_stage() -> None:
    flow, left = make()
    with flow.enter(), flow.enter():
        assert flow.upstream == dict.fromkeys(STAGES, 2)
        assert all(flow.expecting(s) for s in STAGES)
    assert flow.upstream == dict.fromkeys(STAGES, 0)
    assert sorted(left) == sorted(STAGES * 2)


def test_passed_decrements_once() -> None:
    flow, left = make()
    with flow.enter() as passed:
        passed("det")
        passed("det")
        assert flow.upstream == {"det": 0, "cls": 1, "rec": 1}
        assert not flow.expecting("det") and flow.expecting("rec")
        assert left == ["det"]
    assert flow.upstream == dict.fromkeys(STAGES, 0)
    assert sorted(left) == sorted(STAGES)


def test_leaving_releases_stages_never_passed() -> None:
    flow, left = make()
    with flow.enter() as passed:
        passed("det")
        passed("cls")
    assert left[:2] == ["det", "cls"]
    assert left[2:] == ["rec"]
    assert flow.upstream == dict.fromkeys(STAGES, 0)


def test_leaving_on_an_error_releases_every_stage() -> None:
    flow, left = make()
    with pytest.raises(RuntimeError), flow.enter() as passed:
        passed("det")
        raise RuntimeError("request failed")
    assert flow.upstream == dict.fromkeys(STAGES, 0)
    assert sorted(left) == sorted(STAGES)


def test_passed_after_leaving_is_a_no_op() -> None:
    flow, left = make()
    with flow.enter() as passed:
        pass
    passed("rec")
    assert flow.upstream == dict.fromkeys(STAGES, 0)
    assert len(left) == len(STAGES)


def test_one_request_passing_leaves_others_counted() -> None:
    flow, left = make()
    with flow.enter() as first, flow.enter():
        first("det")
        first("cls")
        assert flow.upstream == {"det": 1, "cls": 1, "rec": 2}
        assert flow.expecting("det")
    assert left.count("rec") == 2
