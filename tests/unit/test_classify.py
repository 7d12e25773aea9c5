"""AngleClassifier logic with a fake engine (no model files).

Synthetic crops are white lines with a dark mark near their start; turned by 180 degrees the mark
is near the end. The fake engine finds the mark's centre of mass within the row's content (the
columns that are not padding): in the left half -> 0, in the right half -> 180, with a score that
grows with the distance from the middle. It looks only at its own row.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.engines.base import EngineBase, Tensor
from service.ocr.classify import (
    AngleClassifier,
    AngleResult,
    orient,
    preprocess,
    rotate_upright,
)
from service.ocr.errors import ModelError
from service.ocr.types import Pixels


class FakeClsEngine(EngineBase):
    name = "fake"

    def __init__(self, outputs: int = 2) -> None:
        self.outputs = outputs
        self.calls: list[tuple[int, ...]] = []

    def run(self, batch: Tensor) -> Tensor:
        self.calls.append(batch.shape)
        probs = np.zeros((batch.shape[0], self.outputs), np.float32)
        for i, row in enumerate(batch):
            cols = row.mean(axis=(0, 1))  # per-column mean, normalised units
            content = np.flatnonzero(np.any(row != 0.0, axis=(0, 1)))
            ink = np.clip(1.0 - cols[content], 0, None)  # white = 1.0 -> no ink
            where = (content * ink).sum() / max(ink.sum(), 1e-6) / max(content.size, 1)
            p180 = float(np.clip(0.5 + (where - 0.5) * 1.5, 0, 1))
            probs[i, :2] = (1 - p180, p180)
        return probs


def line(width: int = 300, height: int = 40, mark: tuple[float, float] = (0.05, 0.2)) -> Pixels:
    img = np.full((height, width, 3), 255, np.uint8)
    img[5:-5, int(mark[0] * width) : int(mark[1] * width)] = 20
    return img


def turned(img: Pixels) -> Pixels:
    return np.ascontiguousarray(cv2.rotate(img, cv2.ROTATE_180))


PREPROCESS_CASES = [
    # (crop height, crop width, content columns after resize to 48 x <= 192)
    (24, 48, 96),  # aspect kept: 48 x 96, then padding
    (48, 192, 192),
    (48, 380, 192),  # up to twice the model width: squashed (PP-OCR's cls input)
    (100, 20, 10),
]


@pytest.mark.parametrize("h,w,content", PREPROCESS_CASES)
def test_preprocess_resizes_and_pads(h: int, w: int, content: int) -> None:
    rows, owners = preprocess([np.full((h, w, 3), 200, np.uint8)])
    batch = np.stack(rows)  # rows stay separate until the engine step stacks them
    assert batch.shape == (1, 3, 48, 192) and batch.dtype == np.float32 and owners == [0]
    assert np.allclose(batch[0, :, :, :content], (200 / 255 - 0.5) / 0.5)
    assert np.all(batch[0, :, :, content:] == 0.0)


@pytest.mark.parametrize("w,views", [(300, 1), (400, 4), (1000, 4), (5000, 4)])
def test_long_lines_add_unsquashed_windows(w: int, views: int) -> None:
    crop = np.tile(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], (48, 1, 3))
    batch, owners = preprocess([crop, np.full((48, 48, 3), 9, np.uint8)])
    assert owners == [0] * views + [1]
    # the last window ends where the line ends, unsquashed: its right edge is the line's
    assert np.allclose(batch[views - 1][0, 0, -1], (crop[0, -1, 0] / 255 - 0.5) / 0.5, atol=0.02)


def test_a_crop_scores_the_mean_of_its_views() -> None:
    from service.ocr.classify import postprocess

    probs = np.array([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]], np.float32)
    out = postprocess(probs, [0, 0, 1])
    assert out[0] == (180, pytest.approx(0.6)) and out[1] == (0, pytest.approx(1.0))


def test_classify_in_order_and_batches() -> None:
    crops = [line(), turned(line()), line(500), turned(line(120, 30)), line(), turned(line())]
    engine = FakeClsEngine()
    out = AngleClassifier(engine, max_batch=4).classify(crops)
    assert [r.angle for r in out] == [0, 180, 0, 180, 0, 180]
    assert all(0.5 <= r.score <= 1.0 for r in out)
    sizes = [s[0] for s in engine.calls]  # line(500) adds windows: more rows than crops
    assert sum(sizes) > len(crops) and max(sizes) == 4
    assert all(s[1:] == (3, 48, 192) for s in engine.calls)
    angle, score = out[1]  # a plain (angle, score) pair
    assert (angle, score) == (out[1].angle, out[1].score)


def test_apply_turns_only_confident_180s() -> None:
    upright = line()
    sure = turned(upright)
    unsure = turned(line(mark=(0.3, 0.45)))  # mark near the middle: low score
    clf = AngleClassifier(FakeClsEngine(), thresh=0.9)
    results = clf.classify([upright, sure, unsure])
    assert [r.angle for r in results] == [0, 180, 180]
    assert results[1].score >= 0.9 > results[2].score
    fixed = clf.apply([upright, sure, unsure])
    assert fixed[0] is upright and fixed[2] is unsure
    assert np.array_equal(fixed[1], upright)
    assert np.array_equal(clf.apply([unsure], thresh=0.5)[0], turned(unsure))


def test_result_does_not_depend_on_neighbours() -> None:
    rng = np.random.default_rng(0)
    probe = turned(line(333, 41))
    clf = AngleClassifier(FakeClsEngine(), max_batch=32)
    alone = clf.classify([probe])[0]
    crowd = [line(int(w), int(h)) for w, h in rng.integers(20, 900, size=(31, 2))]
    crowd.insert(17, probe)
    assert clf.classify(crowd)[17] == pytest.approx(alone)
    batch, owners = preprocess(crowd)
    assert np.array_equal(batch[owners.index(17)], preprocess([probe])[0][0])


def test_empty_inputs() -> None:
    engine = FakeClsEngine()
    clf = AngleClassifier(engine)
    assert clf.classify([]) == [] and clf.apply([]) == []
    assert engine.calls == []
    assert np.all(preprocess([np.zeros((0, 5, 3), np.uint8)])[0][0] == 0.0)


def test_orient_turns_confident_180s_and_says_so() -> None:
    upright, sure = line(), turned(line())
    rows, owners = preprocess([upright, sure])
    probs = AngleClassifier(FakeClsEngine()).infer(rows)
    crops, angles = orient([upright, sure], probs, owners, thresh=0.9)
    assert angles == [0, 180] and crops[0] is upright
    assert np.array_equal(crops[1], upright)


def test_wrong_model_output_is_a_model_error() -> None:
    clf = AngleClassifier(FakeClsEngine(outputs=4))
    with pytest.raises(ModelError, match="classifier output"):
        clf.classify([line()])


def test_rotate_upright_needs_one_result_per_crop() -> None:
    with pytest.raises(ValueError):
        rotate_upright([line()], [AngleResult(0, 1.0), AngleResult(0, 1.0)], 0.9)
