"""DB post-processing on synthetic probability maps (no model files)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.ocr.db_postprocess import DetGeometry, db_postprocess, order_quad
from service.ocr.types import Detection, DetOptions

OPTS = DetOptions()  # thresh 0.3, box_thresh 0.6, unclip 1.5, min_size 3


def _map(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), dtype=np.float32)


def _rect(prob: np.ndarray, x0: int, y0: int, x1: int, y1: int, value: float = 0.9) -> None:
    """Fill map pixels x0..x1, y0..y1 (inclusive)."""
    prob[y0 : y1 + 1, x0 : x1 + 1] = value


def _rotated(
    prob: np.ndarray, centre: tuple[float, float], size: tuple[float, float], deg: float
) -> None:
    pts = cv2.boxPoints((centre, size, deg))
    cv2.fillPoly(prob, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 0.9)


def _expected_axis_box(
    x0: int, y0: int, x1: int, y1: int, ratio: float, sx: float = 1.0, sy: float = 1.0
) -> np.ndarray:
    """Independent expectation: rectangle through the blob's edge pixel centres, grown by
    area * ratio / perimeter, pixel centres at +0.5, scaled; clockwise from top-left."""
    w, h = x1 - x0, y1 - y0
    d = w * h * ratio / (2 * (w + h))
    left, right = (x0 - d + 0.5) * sx, (x1 + d + 0.5) * sx
    top, bottom = (y0 - d + 0.5) * sy, (y1 + d + 0.5) * sy
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]])


def _quads(dets: list[Detection]) -> list[np.ndarray]:
    return [d.quad.as_array().astype(np.float64) for d in dets]


def _signed_area(q: np.ndarray) -> float:
    """Positive for clockwise corners on screen (y down)."""
    x, y = q[:, 0], q[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _top_edge_deg(q: np.ndarray) -> float:
    e = q[1] - q[0]
    return math.degrees(math.atan2(e[1], e[0]))


# --- axis-aligned boxes, with and without rescaling -------------------------------------------


@pytest.mark.parametrize(
    ("map_hw", "src_hw", "blob"),
    [
        ((64, 128), (64, 128), (20, 24, 99, 39)),  # identity
        ((64, 128), (128, 256), (20, 24, 99, 39)),  # uniform x2
        ((64, 128), (192, 256), (20, 24, 99, 39)),  # non-uniform: x2 across, x3 down
        ((96, 64), (50, 700), (5, 40, 60, 55)),  # non-uniform, shrink down, grow across
    ],
)
def test_axis_aligned_box_recovered_in_source_pixels(
    map_hw: tuple[int, int], src_hw: tuple[int, int], blob: tuple[int, int, int, int]
) -> None:
    prob = _map(*map_hw)
    _rect(prob, *blob)
    geom = DetGeometry(src_h=src_hw[0], src_w=src_hw[1], resized_h=map_hw[0], resized_w=map_hw[1])
    dets = db_postprocess(prob, geom, OPTS)
    assert len(dets) == 1
    sx, sy = geom.scale_x, geom.scale_y
    expected = _expected_axis_box(*blob, OPTS.unclip_ratio, sx, sy)
    expected[:, 0] = np.clip(expected[:, 0], 0, src_hw[1])
    expected[:, 1] = np.clip(expected[:, 1], 0, src_hw[0])
    got = _quads(dets)[0]
    assert np.abs(got[:, 0] - expected[:, 0]).max() <= 1.0 * sx + 0.5
    assert np.abs(got[:, 1] - expected[:, 1]).max() <= 1.0 * sy + 0.5
    assert dets[0].score == pytest.approx(0.9, abs=1e-3)


def test_padding_beyond_the_resized_image_is_ignored() -> None:
    prob = _map(64, 128)
    _rect(prob, 10, 10, 60, 25)
    _rect(prob, 10, 45, 60, 60)  # lies in batch padding below the resized image
    geom = DetGeometry(src_h=40, src_w=128, resized_h=40, resized_w=128)
    dets = db_postprocess(prob[np.newaxis, np.newaxis], geom, OPTS)  # (1, 1, H, W) accepted
    assert len(dets) == 1
    assert _quads(dets)[0][:, 1].max() <= 40


def test_map_smaller_than_the_resized_image_is_an_error() -> None:
    with pytest.raises(ValueError):
        db_postprocess(_map(32, 32), DetGeometry(64, 64, 64, 64), OPTS)


# --- rotated boxes -----------------------------------------------------------------------------


@pytest.mark.parametrize("deg", [0.0, 10.0, 30.0, 44.0, 45.0, 46.0, 60.0, -30.0, 89.0])
def test_rotated_box_size_centre_and_corner_order(deg: float) -> None:
    prob = _map(160, 160)
    _rotated(prob, (80.0, 80.0), (90.0, 18.0), deg)
    dets = db_postprocess(prob, DetGeometry(160, 160, 160, 160), OPTS)
    assert len(dets) == 1
    q = _quads(dets)[0]
    sides = sorted(np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1))
    d = 90 * 18 * OPTS.unclip_ratio / (2 * (90 + 18))  # unclip distance of the kernel box
    # rasterising a rotated rectangle adds up to about a pixel to each side of the kernel
    assert sides[0] == pytest.approx(18 + 2 * d, abs=3.0)
    assert sides[-1] == pytest.approx(90 + 2 * d, abs=3.0)
    assert q.mean(axis=0) == pytest.approx([80.5, 80.5], abs=1.0)
    assert _signed_area(q) > 0
    assert -45.5 <= _top_edge_deg(q) <= 45.5


# --- what gets dropped, merged or kept ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    blobs: list[tuple[int, int, int, int, float]]  # x0, y0, x1, y1, value
    opts: DetOptions = field(default_factory=DetOptions)
    expected: int = 1


CASES = [
    Case("empty map", [], expected=0),
    Case(
        "two boxes, 1-px gap stay apart",
        [(10, 10, 59, 25, 0.9), (61, 10, 110, 25, 0.9)],
        expected=2,
    ),
    Case(
        "two boxes, 1-px gap, dilation merges",
        [(10, 10, 59, 25, 0.9), (61, 10, 110, 25, 0.9)],
        DetOptions(use_dilation=True),
    ),
    Case("two lines, 1-px gap", [(10, 10, 110, 25, 0.9), (10, 27, 110, 42, 0.9)], expected=2),
    Case("below thresh", [(10, 10, 60, 25, 0.25)], expected=0),
    Case("at thresh is not text", [(10, 10, 60, 25, 0.3)], expected=0),
    Case("tiny blob", [(10, 10, 11, 11, 0.99)], expected=0),
    Case("short side under min_size", [(10, 10, 80, 12, 0.99)], expected=0),
    Case("below box_thresh", [(10, 10, 60, 25, 0.5)], expected=0),
    Case("box_thresh lowered", [(10, 10, 60, 25, 0.5)], DetOptions(box_thresh=0.4)),
    Case(
        "max_candidates keeps the largest",
        [(5, 5, 20, 15, 0.9), (30, 5, 100, 25, 0.9), (5, 40, 110, 60, 0.9), (60, 70, 80, 80, 0.9)],
        DetOptions(max_candidates=2),
        expected=2,
    ),
    Case("max_candidates 0", [(10, 10, 60, 25, 0.9)], DetOptions(max_candidates=0), expected=0),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_drop_merge_keep(case: Case) -> None:
    prob = _map(96, 128)
    for x0, y0, x1, y1, value in case.blobs:
        _rect(prob, x0, y0, x1, y1, value)
    dets = db_postprocess(prob, DetGeometry(96, 128, 96, 128), case.opts)
    assert len(dets) == case.expected


def test_max_candidates_keeps_the_largest_regions() -> None:
    prob = _map(96, 128)
    _rect(prob, 5, 5, 20, 15)  # small
    _rect(prob, 5, 40, 110, 60)  # largest
    _rect(prob, 30, 70, 100, 85)  # second
    dets = db_postprocess(prob, DetGeometry(96, 128, 96, 128), DetOptions(max_candidates=2))
    tops = sorted(round(float(q[:, 1].min())) for q in _quads(dets))
    assert len(tops) == 2 and tops[0] > 20  # the small box (top ~0) is gone


def test_slow_score_follows_the_contour_not_the_box() -> None:
    prob = _map(96, 128)
    _rect(prob, 10, 10, 100, 20)  # an L: its bounding rectangle is mostly empty
    _rect(prob, 10, 10, 20, 80)
    fast = db_postprocess(prob, DetGeometry(96, 128, 96, 128), DetOptions(score_mode="fast"))
    slow = db_postprocess(prob, DetGeometry(96, 128, 96, 128), DetOptions(score_mode="slow"))
    assert fast == []
    assert len(slow) == 1 and slow[0].score > 0.6


def test_boxes_are_clipped_to_the_source_image() -> None:
    prob = _map(64, 64)
    _rect(prob, 0, 0, 40, 12)
    _rect(prob, 30, 50, 63, 63)
    dets = db_postprocess(prob, DetGeometry(128, 100, 64, 64), OPTS)
    assert len(dets) == 2
    for q in _quads(dets):
        assert q[:, 0].min() >= 0 and q[:, 0].max() <= 100
        assert q[:, 1].min() >= 0 and q[:, 1].max() <= 128


def test_geometry_rejects_empty_sides() -> None:
    with pytest.raises(ValueError):
        DetGeometry(src_h=0, src_w=10, resized_h=32, resized_w=32)


# --- corner ordering ---------------------------------------------------------------------------

rects = st.tuples(
    st.floats(-500, 500),
    st.floats(-500, 500),
    st.floats(2, 400),
    st.floats(2, 400),
    st.floats(-180, 180),
)


@settings(max_examples=300, deadline=None)
@given(rect=rects, perm=st.permutations(range(4)))
def test_order_quad_clockwise_from_top_left(
    rect: tuple[float, float, float, float, float], perm: list[int]
) -> None:
    cx, cy, w, h, deg = rect
    corners = cv2.boxPoints(((cx, cy), (w, h), deg)).astype(np.float64)
    q = order_quad(corners[perm])
    assert sorted(map(tuple, np.round(q, 6))) == sorted(map(tuple, np.round(corners, 6)))
    assert _signed_area(q) > 0
    assert -45.01 <= _top_edge_deg(q) <= 45.01
    np.testing.assert_array_equal(q, order_quad(corners[perm[::-1]]))  # any input order


@settings(max_examples=40, deadline=None)
@given(
    deg=st.floats(-90, 90),
    w=st.integers(20, 100),
    h=st.integers(8, 30),
    scale=st.tuples(st.floats(0.3, 4), st.floats(0.3, 4)),
)
def test_detected_rotated_rects_are_ordered(
    deg: float, w: int, h: int, scale: tuple[float, float]
) -> None:
    prob = _map(160, 160)
    _rotated(prob, (80.0, 80.0), (float(w), float(h)), deg)
    geom = DetGeometry(round(160 * scale[1]), round(160 * scale[0]), 160, 160)
    dets = db_postprocess(prob, geom, replace(OPTS, box_thresh=0.5))
    assert len(dets) == 1
    q = _quads(dets)[0]  # a parallelogram when the scales differ
    assert _signed_area(q) > 0
    edges = np.roll(q, -1, axis=0) - q
    degs = np.abs(np.degrees(np.arctan2(edges[:, 1], edges[:, 0])))
    assert degs[0] == pytest.approx(degs.min(), abs=1e-3)  # the top edge is the flattest
