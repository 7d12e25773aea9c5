"""DB post-processing: a text probability map -> text quads in source-image pixels.

Steps (Differentiable Binarization, Liao et al. 2020): binarise the map, find the connected
text kernels' contours, fit a minimum-area rectangle to each, score it on the map, grow it back
to the full text extent ("unclip", offset distance = area * ratio / perimeter), fit a rectangle
again and map it to source pixels.

Coordinates: a map pixel index ``i`` has its centre at ``i + 0.5`` in pixel-edge coordinates,
the convention used for every quad in the service (pixel ``j`` spans ``[j, j + 1]``, the image
spans ``[0, W] x [0, H]``). Scaling between the resized and the source image is then linear.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pyclipper
from shapely.geometry import Polygon

from service.ocr.types import Detection, DetOptions, Quad

FloatMap = npt.NDArray[np.float32]
PointArray = npt.NDArray[np.float64]  # (N, 2) x, y

_CLIPPER_SCALE = 1024.0  # pyclipper works on integers: keep 1/1024 px of precision
_DILATE_KERNEL = np.ones((2, 2), dtype=np.uint8)


@dataclass(frozen=True)
class DetGeometry:
    """How a source image was mapped onto the detector's input tensor.

    The model saw the ``src_h x src_w`` source resized to ``resized_h x resized_w`` and placed at
    the top-left of the input tensor; anything beyond that (batch padding) is ignored.
    """

    src_h: int
    src_w: int
    resized_h: int
    resized_w: int

    def __post_init__(self) -> None:
        if min(self.src_h, self.src_w, self.resized_h, self.resized_w) <= 0:
            raise ValueError(f"all DetGeometry sides must be positive: {self}")

    @property
    def scale_x(self) -> float:
        """Source pixels per map pixel, horizontally."""
        return self.src_w / self.resized_w

    @property
    def scale_y(self) -> float:
        """Source pixels per map pixel, vertically."""
        return self.src_h / self.resized_h


def db_postprocess(prob: FloatMap, geometry: DetGeometry, opts: DetOptions) -> list[Detection]:
    """Text regions of one probability map ``(H, W)``, as quads in source-image pixels.

    ``prob`` is at the model input resolution and may be larger than the resized image (batch
    padding); only its top-left ``resized_h x resized_w`` is used.
    """
    valid = _valid_region(prob, geometry)
    bitmap = (valid > opts.thresh).astype(np.uint8)
    if opts.use_dilation:
        bitmap = np.asarray(cv2.dilate(bitmap, _DILATE_KERNEL), dtype=np.uint8)
    dets: list[Detection] = []
    for contour in _candidate_contours(bitmap, opts.max_candidates):
        det = _contour_to_detection(valid, contour, geometry, opts)
        if det is not None:
            dets.append(det)
    return dets


def order_quad(points: npt.ArrayLike) -> PointArray:
    """Four corners ordered clockwise (on screen, y down), starting top-left as read.

    The corners are sorted by angle around their centroid; the start is the corner whose
    outgoing edge points closest to +x (angle in [-45, 45) degrees, ties at exactly 45 degrees
    go to the rising edge), so boxes near 45 degrees get a stable, valid order.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles, kind="stable")]
    edges = np.roll(pts, -1, axis=0) - pts
    edge_deg = np.degrees(np.arctan2(edges[:, 1], edges[:, 0]))
    key = np.abs(edge_deg + 1e-9)
    key[np.hypot(edges[:, 0], edges[:, 1]) < 1e-9] = np.inf
    return np.roll(pts, -int(np.argmin(key)), axis=0)


def min_area_box(points: npt.ArrayLike) -> tuple[PointArray, float]:
    """Minimum-area rectangle around ``points`` (any order) and its short side."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    rect = cv2.minAreaRect(pts)
    box = np.asarray(cv2.boxPoints(rect), dtype=np.float64)
    return box, float(min(rect[1]))


def unclip(box: npt.ArrayLike, ratio: float) -> PointArray:
    """Grow a polygon outwards by ``area * ratio / perimeter`` (round joins); (N, 2) points."""
    pts = np.asarray(box, dtype=np.float64).reshape(-1, 2)
    poly = Polygon(pts)
    if poly.length <= 0:
        return pts
    distance = poly.area * ratio / poly.length
    offset = pyclipper.PyclipperOffset()
    offset.ArcTolerance = 0.05 * _CLIPPER_SCALE
    path = np.round(pts * _CLIPPER_SCALE).astype(np.int64).tolist()
    offset.AddPath(path, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    solution = offset.Execute(distance * _CLIPPER_SCALE)
    if not solution:
        return pts
    return np.concatenate([np.asarray(s, dtype=np.float64) for s in solution]) / _CLIPPER_SCALE


def _valid_region(prob: FloatMap, geometry: DetGeometry) -> FloatMap:
    arr = np.asarray(prob, dtype=np.float32)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"expected one (H, W) probability map, got shape {prob.shape}")
    if arr.shape[0] < geometry.resized_h or arr.shape[1] < geometry.resized_w:
        raise ValueError(f"map {arr.shape} is smaller than the resized image {geometry}")
    return arr[: geometry.resized_h, : geometry.resized_w]


def _candidate_contours(bitmap: npt.NDArray[np.uint8], limit: int) -> list[npt.NDArray[np.int32]]:
    """Outer contours of the text kernels; the ``limit`` largest when there are more."""
    contours, _ = cv2.findContours(bitmap, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found: list[npt.NDArray[np.int32]] = [np.asarray(c, dtype=np.int32) for c in contours]
    if len(found) > limit:
        areas = np.array([cv2.contourArea(c) for c in found])
        keep = np.sort(np.argsort(-areas, kind="stable")[: max(limit, 0)])
        found = [found[i] for i in keep]
    return found


def _contour_to_detection(
    prob: FloatMap, contour: npt.NDArray[np.int32], geometry: DetGeometry, opts: DetOptions
) -> Detection | None:
    box, short_side = min_area_box(contour)
    if short_side < opts.min_size:
        return None
    region = box if opts.score_mode == "fast" else contour.reshape(-1, 2)
    score = polygon_mean(prob, region)
    if score < opts.box_thresh:
        return None
    box, short_side = min_area_box(unclip(box, opts.unclip_ratio))
    if short_side < opts.min_size + 2:
        return None
    return Detection(quad=_to_source_quad(box, geometry), score=score)


def polygon_mean(prob: FloatMap, polygon: npt.ArrayLike) -> float:
    """Mean of ``prob`` over the pixels whose centres a polygon (map pixel indices) covers."""
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    h, w = prob.shape
    x0, y0 = (int(np.clip(np.floor(pts[:, i].min()), 0, n - 1)) for i, n in ((0, w), (1, h)))
    x1, y1 = (int(np.clip(np.ceil(pts[:, i].max()), 0, n - 1)) for i, n in ((0, w), (1, h)))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = np.round(pts - (x0, y0)).astype(np.int32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 1, 2)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _to_source_quad(box: PointArray, geometry: DetGeometry) -> Quad:
    """Map-pixel-index corners -> ordered, clipped source-pixel (edge convention) corners."""
    src = (box + 0.5) * (geometry.scale_x, geometry.scale_y)
    src = order_quad(src)
    src[:, 0] = np.clip(src[:, 0], 0.0, float(geometry.src_w))
    src[:, 1] = np.clip(src[:, 1], 0.0, float(geometry.src_h))
    return Quad.from_array(src)
