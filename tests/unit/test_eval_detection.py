"""Polygon IoU, one-to-one matching and don't-care handling (models/eval/detection.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.eval.datasets import GtLine
from models.eval.detection import (
    DetectionTally,
    greedy_match,
    iou_matrix,
    match_lines,
    prf,
    to_polygon,
)


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def gt(points: list[list[float]], ignore: bool = False, text: str = "T") -> GtLine:
    return GtLine(points=tuple((float(x), float(y)) for x, y in points), text=text, ignore=ignore)


def tally(pred: list, gts: list[GtLine]) -> DetectionTally:
    t = DetectionTally()
    t.add(match_lines(pred, gts))
    return t


def test_perfect_match() -> None:
    gts = [gt(box(0, 0, 100, 20)), gt(box(0, 30, 80, 50)), gt(box(10, 60, 60, 80))]
    preds = [list(reversed(g.points)) for g in gts]  # counter-clockwise order is fine
    metrics = tally(preds, gts).metrics()
    assert metrics["det_precision"] == metrics["det_recall"] == metrics["det_f1"] == 1.0
    assert metrics["det_mean_iou"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("shift", "iou", "matched"),
    [
        (0, 1.0, True),
        (3, 70 / 130, True),
        (10 / 3, 2 / 4, True),
        (4, 60 / 140, False),
        (5, 1 / 3, False),
    ],
)
def test_shifted_box_and_threshold(shift: float, iou: float, matched: bool) -> None:
    g = gt(box(0, 0, 10, 10))
    p = box(shift, 0, 10 + shift, 10)
    assert iou_matrix([to_polygon(p)], [to_polygon(g.points)])[0, 0] == pytest.approx(iou)
    t = tally([p], [g])
    assert t.tp == int(matched)
    assert (t.n_pred, t.n_gt) == (1, 1)


def test_rotated_quads_iou() -> None:
    square = box(0, 0, 2, 2)
    diamond = [[1, -1], [3, 1], [1, 3], [-1, 1]]  # the same square's centre, rotated 45°, area 8
    inter = 4.0  # the square lies inside the diamond
    assert iou_matrix([to_polygon(diamond)], [to_polygon(square)])[0, 0] == pytest.approx(inter / 8)


def test_two_predictions_on_one_gt_is_one_to_one() -> None:
    gts = [gt(box(0, 0, 100, 20))]
    preds = [box(2, 0, 100, 20), box(0, 0, 100, 20)]  # both IoU >= 0.5, the second is exact
    match = match_lines(preds, gts)
    assert [(p, g) for p, g, _ in match.pairs] == [(1, 0)]
    metrics = tally(preds, gts).metrics()
    assert metrics["det_precision"] == 0.5
    assert metrics["det_recall"] == 1.0


@pytest.mark.parametrize(
    ("iou", "expected"),
    [
        ([[0.6, 0.9], [0.0, 0.8]], [(0, 1)]),  # highest first: pred 1 loses its only candidate
        ([[0.9, 0.6], [0.8, 0.0]], [(0, 0)]),
        ([[0.9, 0.6], [0.0, 0.8]], [(0, 0), (1, 1)]),
        ([[0.7, 0.7], [0.7, 0.7]], [(0, 0), (1, 1)]),  # ties: lower indices first
        ([[0.49, 0.3]], []),
        (np.zeros((0, 3)), []),
    ],
)
def test_greedy_match_table(iou: object, expected: list[tuple[int, int]]) -> None:
    pairs = greedy_match(np.asarray(iou, dtype=np.float64), 0.5)
    assert [(p, g) for p, g, _ in pairs] == expected


def test_ignore_regions() -> None:
    gts = [gt(box(0, 0, 100, 20)), gt(box(0, 40, 100, 60), ignore=True)]
    preds = [
        box(0, 0, 100, 20),  # TP
        box(5, 40, 95, 60),  # on the don't-care line: excluded from precision
        box(0, 100, 50, 120),  # a false positive elsewhere
    ]
    match = match_lines(preds, gts)
    assert match.care_gt == (0,)
    assert match.ignored_preds == (1,)
    t = tally(preds, gts)
    assert (t.tp, t.n_pred, t.n_gt, t.n_ignored_pred) == (1, 2, 1, 1)
    assert t.metrics()["det_precision"] == 0.5
    assert t.metrics()["det_recall"] == 1.0


def test_prediction_half_outside_ignore_is_a_false_positive() -> None:
    gts = [gt(box(0, 0, 10, 10), ignore=True)]
    assert match_lines([box(0, 0, 10, 9)], gts).ignored_preds == (0,)  # 100 % inside
    assert match_lines([box(5, 0, 15, 10)], gts).ignored_preds == ()  # exactly 50 %: counted
    assert tally([box(5, 0, 15, 10)], gts).metrics()["det_precision"] == 0.0


def test_prediction_spanning_two_ignore_regions_is_ignored() -> None:
    gts = [gt(box(0, 0, 10, 10), ignore=True), gt(box(10, 0, 20, 10), ignore=True)]
    match = match_lines([box(2, 0, 18, 10)], gts)  # 50 % + 50 % of its area: inside the union
    assert match.ignored_preds == (0,)


def test_only_ignore_gt_and_no_predictions() -> None:
    metrics = tally([], [gt(box(0, 0, 10, 10), ignore=True)]).metrics()
    assert (metrics["det_precision"], metrics["det_recall"]) == (1.0, 1.0)


def test_invalid_bowtie_quad_is_repaired_by_its_hull() -> None:
    bowtie = [[0, 0], [10, 10], [10, 0], [0, 10]]  # corners in the wrong order
    poly = to_polygon(bowtie)
    assert poly is not None and poly.is_valid and poly.area == pytest.approx(100)
    assert tally([bowtie], [gt(box(0, 0, 10, 10))]).tp == 1


def test_invalid_long_polygon_is_repaired() -> None:
    figure8 = [[0, 0], [10, 0], [10, 10], [20, 10], [20, 20], [10, 20], [10, 10], [0, 10]]
    poly = to_polygon(figure8)
    assert poly is not None and poly.is_valid
    assert poly.area == pytest.approx(200)


@pytest.mark.parametrize(
    "points",
    [
        [[0, 0], [10, 0]],
        [[0, 0], [5, 0], [10, 0], [20, 0]],  # collinear: zero area
        [[0, 0], [math.nan, 0], [10, 10], [0, 10]],
        None,
        "garbage",
        [[0, 0, 1], [1, 1, 1]],
    ],
)
def test_degenerate_predictions_match_nothing(points: object) -> None:
    assert to_polygon(points) is None
    t = tally([points], [gt(box(0, 0, 10, 10))])
    assert (t.tp, t.n_pred, t.n_gt) == (0, 1, 1)


def test_float_polygon_with_many_points() -> None:
    circle = [[50 + 50 * math.cos(a), 50 + 50 * math.sin(a)] for a in np.linspace(0, 2 * np.pi, 40)]
    assert tally([circle], [gt(box(0, 0, 100, 100))]).tp == 1  # IoU = pi/4


@pytest.mark.parametrize(
    ("tp", "n_pred", "n_gt", "expected"),
    [
        (0, 0, 0, (1.0, 1.0, 1.0)),
        (0, 0, 5, (0.0, 0.0, 0.0)),
        (0, 3, 0, (0.0, 1.0, 0.0)),
        (2, 4, 2, (0.5, 1.0, 2 / 3)),
        (3, 3, 6, (1.0, 0.5, 2 / 3)),
    ],
)
def test_prf(tp: int, n_pred: int, n_gt: int, expected: tuple[float, float, float]) -> None:
    assert prf(tp, n_pred, n_gt) == pytest.approx(expected)
