"""0/180 text-line classifier stage (PP-OCR's "cls"): is this crop upside down?

Like the recogniser: a pure ``preprocess`` (aspect-preserving resize to the model height, width
capped at the model width, normalised, right-padded with 0.0 to that width: PP-OCR's cls input;
long lines add a few unsquashed windows, see ``views``),
a small engine step in batches (``infer``), and a pure ``postprocess``/``orient`` of the (2,)
probabilities per row for the labels (0, 180). A row depends only on its own crop, so
batching never changes a result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import cv2
import numpy as np

from service.engines.base import Engine, Tensor, warm_up
from service.ocr.errors import ModelError
from service.ocr.recognize import normalize, pad_right, resize_to_height
from service.ocr.types import Pixels

Angle = Literal[0, 180]
LABELS: tuple[Angle, Angle] = (0, 180)


class AngleResult(NamedTuple):
    """(angle, score): the most probable orientation of a crop."""

    angle: Angle
    score: float  # the probability of ``angle``


MAX_TILES = 3  # extra unsquashed views of a long line


def views(crop: Pixels, height: int, width: int) -> list[Pixels]:
    """What the classifier looks at for one crop: the whole crop squeezed into the model width
    (PP-OCR's input) and, for a line more than twice as wide as that, up to ``MAX_TILES``
    evenly spaced windows at the true aspect ratio. Squeezing a long line 4x blurs the glyph
    shapes the 0/180 decision rests on; the windows keep them."""
    whole = resize_to_height(crop, height, min_width=1, max_width=width)
    full = resize_to_height(crop, height, min_width=1, max_width=None)
    if full.shape[1] <= 2 * width:
        return [whole]
    n = min(MAX_TILES, math.ceil(full.shape[1] / width))
    starts = np.linspace(0, full.shape[1] - width, n).round().astype(int)
    return [whole, *(full[:, s : s + width] for s in starts)]


def preprocess(
    crops: Sequence[Pixels], height: int = 48, width: int = 192, pad_value: float = 0.0
) -> tuple[list[Tensor], list[int]]:
    """Crops -> ((3, height, width) float32 rows, owner crop index of each row). Pure; an empty
    crop becomes one all-pad row. Rows stay separate: the engine step stacks them once."""
    rows: list[Tensor] = []
    owners: list[int] = []
    for i, crop in enumerate(crops):
        for view in views(crop, height, width) if crop.size else []:
            rows.append(pad_right(normalize(view), width, pad_value))
            owners.append(i)
        if not crop.size:
            rows.append(np.full((3, height, width), pad_value, np.float32))
            owners.append(i)
    return rows, owners


def infer(engine: Engine, rows: Sequence[Tensor], max_batch: int) -> list[Tensor]:
    """Rows stacked into engine calls of at most ``max_batch``; one (2,) probability per row."""
    probs: list[Tensor] = []
    for start in range(0, len(rows), max_batch):
        out = engine.run(np.stack(rows[start : start + max_batch]))
        if out.ndim != 2 or out.shape[1] != len(LABELS):
            raise ModelError(f"classifier output shape {out.shape}; expected (N, {len(LABELS)})")
        probs.extend(out)
    return probs


def postprocess(
    row_probs: Sequence[Tensor] | Tensor, owners: Sequence[int] | None = None
) -> list[AngleResult]:
    """Per crop: the mean probability over its views, then the most probable label."""
    if len(row_probs) == 0:
        return []
    probs = np.asarray(np.stack(list(row_probs)), np.float32)
    if owners is not None:
        n = max(owners, default=-1) + 1
        sums = np.zeros((n, probs.shape[1]), np.float64)
        np.add.at(sums, np.asarray(owners, dtype=np.int64), probs)
        probs = (sums / np.bincount(owners, minlength=n)[:, None]).astype(np.float32)
    best = probs.argmax(axis=1)
    return [AngleResult(LABELS[int(b)], float(probs[i, b])) for i, b in enumerate(best)]


def rotate_upright(
    crops: Sequence[Pixels], results: Sequence[AngleResult], thresh: float
) -> list[Pixels]:
    """Crops turned by 180 degrees where the classifier says 180 with score >= ``thresh``."""
    return [
        np.ascontiguousarray(cv2.rotate(c, cv2.ROTATE_180))
        if r.angle == 180 and r.score >= thresh
        else c
        for c, r in zip(crops, results, strict=True)
    ]


def orient(
    crops: Sequence[Pixels], row_probs: Sequence[Tensor], owners: Sequence[int], thresh: float
) -> tuple[list[Pixels], list[Angle]]:
    """The engine's per-row probabilities -> each crop upright, and the angle it was read at."""
    upright = rotate_upright(crops, postprocess(row_probs, owners), thresh)
    angles: list[Angle] = [0 if u is c else 180 for u, c in zip(upright, crops, strict=True)]
    return upright, angles


class AngleClassifier:
    """The classifier stage: one engine (not shared), fixed input shape."""

    def __init__(
        self,
        engine: Engine,
        shape: tuple[int, int] = (48, 192),
        thresh: float = 0.9,
        max_batch: int = 32,
    ) -> None:
        self.engine = engine
        self.height, self.width = shape
        self.thresh = thresh
        self.max_batch = max_batch

    def preprocess(self, crops: Sequence[Pixels]) -> tuple[list[Tensor], list[int]]:
        return preprocess(crops, self.height, self.width)

    def infer(self, rows: Sequence[Tensor]) -> list[Tensor]:
        """The engine step: a batcher's worker calls it with one batch, the CLI with all rows."""
        return infer(self.engine, rows, self.max_batch)

    def classify(self, crops: Sequence[Pixels]) -> list[AngleResult]:
        rows, owners = self.preprocess(crops)
        return postprocess(self.infer(rows), owners)

    def apply(self, crops: Sequence[Pixels], thresh: float | None = None) -> list[Pixels]:
        """The crops, those confidently upside down (180, score >= thresh) turned upright.

        A caller that also needs the angles calls ``classify`` then ``rotate_upright``.
        """
        cut = self.thresh if thresh is None else thresh
        return rotate_upright(crops, self.classify(crops), cut)

    def warmup(self) -> None:
        warm_up(self.engine, (3, self.height, self.width), self.max_batch)
