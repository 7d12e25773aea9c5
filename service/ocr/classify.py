"""0/180 text-line classifier stage (PP-OCR's "cls"): is this crop upside down?

Like the recogniser: a pure ``preprocess`` (aspect-preserving resize to the model height, width
capped at the model width, normalised, right-padded with 0.0 to that width: PP-OCR's cls input;
long lines add a few unsquashed windows, see ``views``),
a small engine step in batches, and a pure ``postprocess`` of the (N, 2) probabilities for the
labels (0, 180). A row depends only on its own crop, so batching never changes a result.
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
) -> tuple[Tensor, list[int]]:
    """Crops -> ((M, 3, height, width) float32, owner crop index of each row). Pure; an empty
    crop becomes one all-pad row."""
    rows: list[Tensor] = []
    owners: list[int] = []
    for i, crop in enumerate(crops):
        for view in views(crop, height, width) if crop.size else []:
            rows.append(pad_right(normalize(view), width, pad_value))
            owners.append(i)
        if not crop.size:
            rows.append(np.full((3, height, width), pad_value, np.float32))
            owners.append(i)
    if not rows:
        return np.zeros((0, 3, height, width), np.float32), owners
    return np.stack(rows), owners


def infer(engine: Engine, batch: Tensor, max_batch: int) -> Tensor:
    """Run (N, 3, H, W) in chunks of ``max_batch``; (N, 2) probabilities."""
    if batch.shape[0] == 0:
        return np.zeros((0, len(LABELS)), np.float32)
    outs = [engine.run(batch[s : s + max_batch]) for s in range(0, batch.shape[0], max_batch)]
    probs = np.concatenate(outs)
    if probs.ndim != 2 or probs.shape[1] != len(LABELS):
        raise ModelError(f"classifier output shape {probs.shape}; expected (N, {len(LABELS)})")
    return probs


def postprocess(probs: Tensor, owners: Sequence[int] | None = None) -> list[AngleResult]:
    """Per crop: the mean probability over its views, then the most probable label."""
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

    def preprocess(self, crops: Sequence[Pixels]) -> tuple[Tensor, list[int]]:
        return preprocess(crops, self.height, self.width)

    def classify(self, crops: Sequence[Pixels]) -> list[AngleResult]:
        batch, owners = self.preprocess(crops)
        return postprocess(infer(self.engine, batch, self.max_batch), owners)

    def apply(self, crops: Sequence[Pixels], thresh: float | None = None) -> list[Pixels]:
        """The crops, those confidently upside down (180, score >= thresh) turned upright.

        A caller that also needs the angles calls ``classify`` then ``rotate_upright``.
        """
        cut = self.thresh if thresh is None else thresh
        return rotate_upright(crops, self.classify(crops), cut)

    def warmup(self) -> None:
        warm_up(self.engine, (3, self.height, self.width), self.max_batch)
