"""Reading order and perspective crops (no model files)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from service.ocr.crop import crop_quad, grown, make_crops, sort_reading_order
from service.ocr.types import Detection, Image, Quad

BLUE = (255, 0, 0)
RED = (0, 0, 255)


def _box(x: float, y: float, w: float, h: float, deg: float = 0.0, score: float = 0.9) -> Detection:
    """A w x h box whose top-left corner is at (x, y), rotated by deg about that corner."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    local = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    pts = local @ np.array([[c, s], [-s, c]]) + (x, y)
    return Detection(quad=Quad.from_array(pts), score=score)


# --- reading order -----------------------------------------------------------------------------

ORDER_CASES: dict[str, dict[str, Detection]] = {
    "single column": {
        "a": _box(10, 10, 100, 20),
        "b": _box(10, 40, 80, 20),
        "c": _box(10, 70, 120, 20),
    },
    "two columns, rows aligned, right one slightly higher": {
        "L1": _box(10, 12, 100, 20),
        "R1": _box(300, 8, 100, 20),
        "L2": _box(10, 42, 100, 20),
        "R2": _box(300, 38, 100, 20),
    },
    "two columns, rows offset by half a line": {
        "L1": _box(10, 0, 100, 20),
        "R1": _box(300, 15, 100, 20),
        "L2": _box(10, 30, 100, 20),
        "R2": _box(300, 45, 100, 20),
    },
    "slanted words on one line, then the next line": {
        "w1": _box(10, 10, 80, 20, deg=8),
        "w2": _box(110, 24, 80, 20, deg=8),
        "w3": _box(210, 38, 80, 20, deg=8),
        "w4": _box(310, 52, 80, 20, deg=8),
        "next": _box(10, 45, 80, 20, deg=8),
    },
    "rising slant": {
        "w1": _box(10, 80, 80, 20, deg=-8),
        "w2": _box(110, 66, 80, 20, deg=-8),
        "w3": _box(210, 52, 80, 20, deg=-8),
        "below": _box(10, 115, 80, 20, deg=-8),
    },
    "heading beside small print": {
        "title": _box(10, 10, 200, 40),
        "small": _box(230, 34, 60, 12),
        "body": _box(10, 60, 300, 12),
    },
    "a box between two lines does not bridge them (SROIE receipt layout)": {
        "station": _box(79, 403, 272, 40),
        "bill no": _box(463, 419, 281, 37),
        "cas": _box(77, 436, 54, 30),
        "r: angela": _box(182, 446, 149, 30),
        "cover": _box(461, 453, 86, 30),
    },
    "small print above a heading's line": {
        "note": _box(230, 0, 60, 12),
        "title": _box(10, 14, 200, 40),
    },
}


@pytest.mark.parametrize("name", list(ORDER_CASES))
@pytest.mark.parametrize("shuffle_seed", [0, 1, 2])
def test_reading_order(name: str, shuffle_seed: int) -> None:
    expected = list(ORDER_CASES[name])
    items = list(ORDER_CASES[name].items())
    np.random.default_rng(shuffle_seed).shuffle(items)
    label = {id(det): key for key, det in items}
    got = [label[id(d)] for d in sort_reading_order([det for _, det in items])]
    assert got == expected


def test_reading_order_is_stable_for_identical_boxes() -> None:
    dets = [_box(10, 10, 50, 20, score=s) for s in (0.1, 0.2, 0.3)]
    assert [d.score for d in sort_reading_order(dets)] == [0.1, 0.2, 0.3]


def test_reading_order_empty() -> None:
    assert sort_reading_order([]) == []


# --- crops -------------------------------------------------------------------------------------


def _canvas(h: int = 120, w: int = 200) -> np.ndarray:
    return np.full((h, w, 3), 200, dtype=np.uint8)


def test_axis_aligned_crop_is_exactly_the_rectangle() -> None:
    img = _canvas()
    cv2.rectangle(img, (40, 30), (139, 59), BLUE, thickness=-1)  # 100 x 30 px, inclusive
    crop = crop_quad(img, Quad.from_array([[40, 30], [140, 30], [140, 60], [40, 60]]))
    assert crop.shape == (30, 100, 3)
    assert crop.dtype == np.uint8 and crop.flags["C_CONTIGUOUS"]
    inner = crop[2:-2, 2:-2].reshape(-1, 3).astype(int)
    assert np.abs(inner - BLUE).max() <= 2


@pytest.mark.parametrize("deg", [15.0, 30.0, -20.0])
def test_rotated_crop_is_upright_and_sized_by_edges(deg: float) -> None:
    img = _canvas(300, 300)
    det = _box(80, 100, 120, 30, deg=deg)
    pts = det.quad.as_array()
    cv2.fillPoly(img, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], BLUE)
    cv2.circle(img, tuple(int(v) for v in np.round(pts[0] + (pts[2] - pts[0]) * 0.1)), 3, RED, -1)
    crop = crop_quad(img, det.quad)
    assert crop.shape == (30, 120, 3)
    inner = crop[4:-4, 20:-4].reshape(-1, 3).astype(int)
    assert (np.abs(inner - BLUE).max(axis=1) <= 30).mean() > 0.95
    assert crop[:10, :20, 2].max() > 200  # the red mark near the first corner stays top-left


def test_tall_crop_is_rotated_counter_clockwise() -> None:
    img = _canvas(200, 100)
    cv2.rectangle(img, (30, 20), (59, 139), BLUE, thickness=-1)  # 30 wide x 120 tall
    cv2.rectangle(img, (30, 20), (59, 29), RED, thickness=-1)  # red band at the top
    crop = crop_quad(img, Quad.from_array([[30, 20], [60, 20], [60, 140], [30, 140]]))
    assert crop.shape == (30, 120, 3)
    assert crop[:, :8, 2].mean() > 200  # the top went to the left
    assert crop[:, -8:, 2].mean() < 50


def test_nearly_square_crop_is_not_rotated() -> None:
    img = _canvas()
    crop = crop_quad(img, Quad.from_array([[10, 10], [50, 10], [50, 69], [10, 69]]))
    assert crop.shape == (59, 40, 3)  # 59 / 40 < 1.5


@pytest.mark.parametrize(
    "points",
    [
        [[5, 5], [5, 5], [5, 5], [5, 5]],  # a point
        [[5, 5], [50, 5], [50, 5], [5, 5]],  # a horizontal segment
        [[10, 10], [20, 20], [30, 30], [40, 40]],  # collinear
        [[-50, -50], [-40, -50], [-40, -45], [-50, -45]],  # entirely outside
        [[500, 500], [500, 500], [500, 500], [500, 500]],  # a point beyond the far corner
        [[float("nan"), 0], [10, 0], [10, 10], [0, 10]],  # not finite
    ],
)
def test_degenerate_quads_give_a_small_crop(points: list[list[float]]) -> None:
    crop = crop_quad(_canvas(), Quad.from_array(points))
    assert crop.ndim == 3 and crop.shape[2] == 3
    assert crop.shape[0] >= 1 and crop.shape[1] >= 1
    assert crop.shape[0] * crop.shape[1] <= 120 * 200


def test_make_crops_keeps_order_quad_and_score() -> None:
    pixels = _canvas()
    dets = [_box(10, 10, 60, 20, score=0.7), _box(10, 50, 90, 25, score=0.8)]
    crops = make_crops(Image(pixels=pixels, format="RAW"), dets)
    assert [c.pixels.shape[:2] for c in crops] == [(20, 60), (25, 90)]
    assert [c.det_score for c in crops] == [0.7, 0.8]
    assert [c.quad for c in crops] == [d.quad for d in dets]
    assert make_crops(pixels, []) == []


@pytest.mark.parametrize(
    "box, margin, expected",
    [
        (_box(10, 40, 60, 20), 0.1, [(10, 38), (70, 38), (70, 62), (10, 62)]),  # across the line
        (_box(40, 10, 20, 60), 0.1, [(38, 10), (62, 10), (62, 70), (38, 70)]),  # a vertical line
        (_box(10, 1, 60, 20), 0.1, [(10, 0), (70, 0), (70, 23), (10, 23)]),  # clipped at the top
        (_box(10, 40, 60, 20), 0.0, [(10, 40), (70, 40), (70, 60), (10, 60)]),
    ],
)
def test_grown_moves_the_long_edges_apart(box: Detection, margin: float, expected: list) -> None:
    got = grown(box.quad, margin, _canvas())
    assert np.allclose(got.as_array(), np.array(expected, dtype=np.float64))


def test_a_crop_margin_cuts_taller_crops_and_keeps_the_detected_quad() -> None:
    dets = [_box(10, 40, 60, 20)]
    crop = make_crops(_canvas(), dets, margin=0.25)[0]
    assert crop.pixels.shape[:2] == (30, 60)
    assert crop.quad == dets[0].quad
