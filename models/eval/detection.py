"""Detection scoring: polygon IoU, one-to-one greedy matching, precision / recall / F1.

Protocol (ICDAR-style, IoU >= 0.5):
- predictions and ground truth are matched one-to-one, greedily, highest IoU first (ties: lower
  prediction index, then lower GT index), among pairs with IoU >= threshold;
- only "care" GT lines take part; don't-care GT lines (`ignore`) are excluded from recall;
- an *unmatched* prediction whose area lies mostly (> `ignore_overlap`) inside the union of the
  don't-care regions is excluded from precision;
- dataset scores are micro-averaged: sum(tp) / sum(predictions), sum(tp) / sum(care GT).

Predicted polygons may be any quad or polygon with >= 3 points. An invalid (self-intersecting)
quad is replaced by its convex hull (its corners were merely listed in the wrong order); a longer
invalid polygon is repaired with buffer(0), falling back to the convex hull. Degenerate shapes
(zero area, NaN, < 3 points) match nothing and so count as false positives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.errors import GEOSException
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from models.eval.datasets import GtLine

FloatMatrix = npt.NDArray[np.float64]
Pair = tuple[int, int, float]  # (prediction index, GT index, IoU)

_EPS = 1e-9


def to_polygon(points: Any) -> BaseGeometry | None:
    """A valid polygonal geometry of positive area, or None when there is none to be had."""
    try:
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        return None
    if len(arr) < 3 or not np.isfinite(arr).all():
        return None
    geom: BaseGeometry = Polygon(arr)
    if not geom.is_valid:
        geom = _repair(geom, len(arr))
    if geom.is_empty or geom.area <= 0:
        return None
    return geom


def _repair(poly: BaseGeometry, n_points: int) -> BaseGeometry:
    hull = poly.convex_hull
    if n_points <= 4:
        return hull
    fixed = poly.buffer(0)
    return hull if fixed.is_empty or fixed.area <= 0 else fixed


def _areas_of_intersection(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> FloatMatrix:
    try:
        return np.asarray(shapely.area(shapely.intersection(a, b)), dtype=np.float64)
    except GEOSException:
        return np.array([_safe_intersection_area(x, y) for x, y in zip(a, b, strict=True)])


def _safe_intersection_area(a: BaseGeometry, b: BaseGeometry) -> float:
    try:
        return float(a.intersection(b).area)
    except GEOSException:
        return 0.0


def iou_matrix(
    preds: Sequence[BaseGeometry | None], gts: Sequence[BaseGeometry | None]
) -> FloatMatrix:
    """IoU of every (prediction, GT) pair; 0 where either geometry is None."""
    out = np.zeros((len(preds), len(gts)), dtype=np.float64)
    p_idx = np.array([i for i, g in enumerate(preds) if g is not None], dtype=np.intp)
    g_idx = np.array([j for j, g in enumerate(gts) if g is not None], dtype=np.intp)
    if p_idx.size == 0 or g_idx.size == 0:
        return out
    p_geo = np.array([preds[i] for i in p_idx], dtype=object)
    g_geo = np.array([gts[j] for j in g_idx], dtype=object)
    pb, gb = shapely.bounds(p_geo), shapely.bounds(g_geo)
    overlap = (
        (pb[:, None, 0] < gb[None, :, 2])
        & (gb[None, :, 0] < pb[:, None, 2])
        & (pb[:, None, 1] < gb[None, :, 3])
        & (gb[None, :, 1] < pb[:, None, 3])
    )
    ii, jj = np.nonzero(overlap)
    if ii.size == 0:
        return out
    inter = _areas_of_intersection(p_geo[ii], g_geo[jj])
    union = shapely.area(p_geo[ii]) + shapely.area(g_geo[jj]) - inter
    out[p_idx[ii], g_idx[jj]] = np.where(union > 0, inter / np.maximum(union, _EPS), 0.0)
    return out


def greedy_match(iou: FloatMatrix, threshold: float = 0.5) -> list[Pair]:
    """One-to-one pairs with IoU >= threshold, taken highest IoU first."""
    ii, jj = np.nonzero(iou >= threshold - _EPS)
    order = np.lexsort((jj, ii, -iou[ii, jj]))
    used_p: set[int] = set()
    used_g: set[int] = set()
    pairs: list[Pair] = []
    for k in order:
        p, g = int(ii[k]), int(jj[k])
        if p in used_p or g in used_g:
            continue
        used_p.add(p)
        used_g.add(g)
        pairs.append((p, g, float(iou[p, g])))
    return pairs


@dataclass(frozen=True)
class LineMatch:
    """The matching of one page. Indices refer to the original prediction / GT lists."""

    pairs: tuple[Pair, ...]
    care_gt: tuple[int, ...]  # GT lines that count for recall
    counted_preds: tuple[int, ...]  # predictions that count for precision
    ignored_preds: tuple[int, ...]  # unmatched predictions inside don't-care regions


def _inside_ignore(
    preds: Sequence[BaseGeometry | None], candidates: Sequence[int], ignore: BaseGeometry | None
) -> set[int]:
    if ignore is None or not candidates:
        return set()
    out = set()
    for i in candidates:
        geom = preds[i]
        if geom is not None and _safe_intersection_area(geom, ignore) > 0.5 * geom.area:
            out.add(i)
    return out


def match_lines(
    pred_points: Sequence[Any],
    gt_lines: Sequence[GtLine],
    iou_threshold: float = 0.5,
) -> LineMatch:
    """Match the predicted polygons of one page to its GT lines (see module docstring)."""
    preds = [to_polygon(p) for p in pred_points]
    gt_geo = [to_polygon(g.points) for g in gt_lines]
    care = [j for j, g in enumerate(gt_lines) if not g.ignore]
    ignore_geo = [gt_geo[j] for j, g in enumerate(gt_lines) if g.ignore and gt_geo[j] is not None]
    iou = iou_matrix(preds, [gt_geo[j] for j in care])
    pairs = tuple((p, care[g], v) for p, g, v in greedy_match(iou, iou_threshold))
    matched = {p for p, _, _ in pairs}
    unmatched = [i for i in range(len(preds)) if i not in matched]
    ignore_union = shapely.union_all(ignore_geo) if ignore_geo else None
    ignored = _inside_ignore(preds, unmatched, ignore_union)
    counted = tuple(i for i in range(len(preds)) if i not in ignored)
    return LineMatch(pairs, tuple(care), counted, tuple(sorted(ignored)))


def prf(tp: int, n_pred: int, n_gt: int) -> tuple[float, float, float]:
    """Precision, recall, F1. No GT: recall 1. No predictions: precision 1 if no GT else 0."""
    recall = tp / n_gt if n_gt else 1.0
    precision = tp / n_pred if n_pred else float(n_gt == 0)
    total = precision + recall
    f1 = 2 * precision * recall / total if total else 0.0
    return precision, recall, f1


@dataclass
class DetectionTally:
    """Detection counts summed over pages."""

    tp: int = 0
    n_pred: int = 0
    n_gt: int = 0
    n_ignored_pred: int = 0
    iou_sum: float = field(default=0.0, repr=False)

    def add(self, match: LineMatch) -> None:
        self.tp += len(match.pairs)
        self.n_pred += len(match.counted_preds)
        self.n_gt += len(match.care_gt)
        self.n_ignored_pred += len(match.ignored_preds)
        self.iou_sum += sum(v for _, _, v in match.pairs)

    def metrics(self, prefix: str = "det_") -> dict[str, float]:
        precision, recall, f1 = prf(self.tp, self.n_pred, self.n_gt)
        mean_iou = self.iou_sum / self.tp if self.tp else 0.0
        return {
            f"{prefix}precision": precision,
            f"{prefix}recall": recall,
            f"{prefix}f1": f1,
            f"{prefix}mean_iou": mean_iou,
        }

    def counts(self, prefix: str = "det_") -> dict[str, int]:
        return {
            f"{prefix}tp": self.tp,
            f"{prefix}pred": self.n_pred,
            f"{prefix}gt": self.n_gt,
            f"{prefix}ignored_pred": self.n_ignored_pred,
        }
