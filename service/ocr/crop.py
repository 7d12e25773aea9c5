"""Reading order of detected text regions, and their upright perspective crops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from service.ocr.types import Crop, Detection, Image, Pixels, Quad

SAME_LINE_TOLERANCE = 0.5  # same line: centre within this many box heights of the line's course
TALL_CROP_RATIO = 1.5  # a crop at least this much taller than wide is rotated to read across
MAX_CROP_SIDE = 16384  # bound on a crop side, whatever quad a caller passes

_Array = npt.NDArray[np.float64]
_Index = npt.NDArray[np.intp]


@dataclass(frozen=True)
class _Placed:
    """Where a detection sits, for reading-order purposes."""

    cx: _Array
    cy: _Array
    height: _Array
    slope: _Array  # dy/dx of the box's top edge (0 for boxes standing upright)


def sort_reading_order(dets: Sequence[Detection]) -> list[Detection]:
    """Detections top-to-bottom by line, each line left-to-right.

    A box joins an earlier line when its centre lies within ``SAME_LINE_TOLERANCE`` box heights
    of that line's course, extrapolated along the slant of the nearest (in x) box already on it;
    so slanted lines and mixed heights (a heading beside small print) hold together. Lines are
    ordered by their top-most box. Deterministic: ties fall back to the input order.
    """
    if not dets:
        return []
    geo = _placement(dets)
    order: _Index = np.lexsort((np.arange(len(dets)), geo.cx, geo.cy))
    line_of: _Index = np.full(len(dets), -1, dtype=np.intp)
    n_lines = 0
    for pos, i in enumerate(order):
        line = _matching_line(geo, order[:pos], line_of, int(i))
        if line < 0:
            line, n_lines = n_lines, n_lines + 1
        line_of[i] = line
    result: list[Detection] = []
    for line in range(n_lines):
        members = np.flatnonzero(line_of == line)
        members = members[np.lexsort((members, geo.cy[members], geo.cx[members]))]
        result.extend(dets[int(m)] for m in members)
    return result


def _placement(dets: Sequence[Detection]) -> _Placed:
    pts = np.stack([d.quad.as_array().astype(np.float64) for d in dets])  # (n, 4, 2)
    centre = pts.mean(axis=1)
    top = pts[:, 1] - pts[:, 0]
    flat = np.abs(top[:, 0]) > np.abs(top[:, 1])
    slope = np.where(flat, top[:, 1] / np.where(flat, top[:, 0], 1.0), 0.0)
    left = np.linalg.norm(pts[:, 3] - pts[:, 0], axis=1)
    right = np.linalg.norm(pts[:, 2] - pts[:, 1], axis=1)
    return _Placed(centre[:, 0], centre[:, 1], (left + right) / 2, slope)


def _matching_line(geo: _Placed, placed: _Index, line_of: _Index, i: int) -> int:
    """The line whose nearest member (in x) predicts box ``i``'s centre best, or -1."""
    if placed.size == 0:
        return -1
    lines = line_of[placed]
    by_line = np.lexsort((placed, np.abs(geo.cx[i] - geo.cx[placed]), lines))
    _, first = np.unique(lines[by_line], return_index=True)
    nearest = placed[by_line[first]]  # one member per line, in line order
    predicted = geo.cy[nearest] + geo.slope[nearest] * (geo.cx[i] - geo.cx[nearest])
    tol = SAME_LINE_TOLERANCE * np.maximum(geo.height[nearest], geo.height[i])
    miss = np.abs(geo.cy[i] - predicted) / np.maximum(tol, 1e-9)
    best = int(np.argmin(miss))  # first minimum: the earliest line wins ties
    return int(line_of[nearest[best]]) if miss[best] <= 1.0 else -1


def crop_quad(pixels: Pixels, quad: Quad) -> Pixels:
    """The quad's region warped to an upright rectangle sized by the quad's edge lengths.

    Corners map in order to the rectangle's top-left, top-right, bottom-right, bottom-left
    (pixel-edge coordinates). A crop at least ``TALL_CROP_RATIO`` times taller than wide is
    rotated 90 degrees counter-clockwise so its text reads across. Degenerate quads give the
    (at least 1x1) bounding-box crop instead of failing.
    """
    pts = quad.as_array().astype(np.float64)
    width = _side(pts[0], pts[1], pts[3], pts[2])
    height = _side(pts[0], pts[3], pts[1], pts[2])
    matrix = None
    if np.isfinite(pts).all() and abs(_signed_area(pts)) >= 1.0:
        dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
        matrix = cv2.getPerspectiveTransform(pts.astype(np.float32), dst)
    if matrix is None or not np.isfinite(matrix).all():
        out = _bbox_crop(pixels, pts)
    else:
        out = np.asarray(
            cv2.warpPerspective(
                pixels,
                matrix,
                (width, height),
                flags=cv2.INTER_CUBIC,
                borderMode=cv2.BORDER_REPLICATE,
            ),
            dtype=np.uint8,
        )
    if out.shape[0] >= TALL_CROP_RATIO * out.shape[1]:
        out = np.asarray(cv2.rotate(out, cv2.ROTATE_90_COUNTERCLOCKWISE), dtype=np.uint8)
    return np.ascontiguousarray(out, dtype=np.uint8)


def make_crops(image: Image | Pixels, dets: Sequence[Detection], margin: float = 0.0) -> list[Crop]:
    """One upright crop per detection, in the given order. ``margin`` (a detector's
    ``crop_margin``) cuts each crop that fraction of its box's height taller above and below;
    the crop's ``quad`` stays the detected one."""
    pixels = image.pixels if isinstance(image, Image) else image
    return [
        Crop(
            pixels=crop_quad(pixels, grown(d.quad, margin, pixels)), quad=d.quad, det_score=d.score
        )
        for d in dets
    ]


def grown(quad: Quad, margin: float, pixels: Pixels) -> Quad:
    """``quad`` grown across its text line: its two long edges moved apart by ``margin`` times
    the distance between them, on each side; clipped to the image."""
    if margin <= 0:
        return quad
    pts = quad.as_array().astype(np.float64)
    across = pts[[3, 2, 1, 0]] - pts  # each corner to its partner over the short side
    if np.linalg.norm(pts[1] - pts[0]) < np.linalg.norm(pts[3] - pts[0]):  # a vertical line
        across = pts[[1, 0, 3, 2]] - pts
    out = pts - across * margin
    h, w = pixels.shape[:2]
    out[:, 0] = np.clip(out[:, 0], 0.0, float(w))
    out[:, 1] = np.clip(out[:, 1], 0.0, float(h))
    return Quad.from_array(out)


def _side(a: _Array, b: _Array, c: _Array, d: _Array) -> int:
    """The longer of the two opposite edges a-b and c-d, as a pixel count in [1, MAX]."""
    length = max(float(np.linalg.norm(b - a)), float(np.linalg.norm(d - c)))
    if not np.isfinite(length):
        return 1
    return int(min(MAX_CROP_SIDE, max(1, round(length))))


def _signed_area(pts: _Array) -> float:
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _bbox_crop(pixels: Pixels, pts: _Array) -> Pixels:
    h, w = pixels.shape[:2]
    finite = pts[np.isfinite(pts).all(axis=1)]
    if finite.size == 0:
        finite = np.zeros((1, 2))
    x0 = int(np.clip(np.floor(finite[:, 0].min()), 0, w - 1))
    y0 = int(np.clip(np.floor(finite[:, 1].min()), 0, h - 1))
    x1 = int(np.clip(np.ceil(finite[:, 0].max()), x0 + 1, w))
    y1 = int(np.clip(np.ceil(finite[:, 1].max()), y0 + 1, h))
    return pixels[y0:y1, x0:x1].copy()
