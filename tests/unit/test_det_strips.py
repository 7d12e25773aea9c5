"""Tiled detection (OCR_DET_STRIP_PIXELS): strips cover every row exactly once, each engine call
stays within the pixel bound, and a model whose output at a pixel depends only on rows within
the overlap gives the whole-image map."""

from __future__ import annotations

import numpy as np
import pytest

from service.engines.base import EngineBase, Tensor
from service.ocr.detect import DET_STRIP_OVERLAP, TextDetector, run_in_strips


class _LocalModel(EngineBase):
    """Output = channel mean, smoothed over 3 rows (a receptive field well inside the overlap)."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def run(self, batch: Tensor) -> Tensor:
        self.shapes.append(batch.shape)
        mean = batch.mean(axis=1, keepdims=True)
        padded = np.pad(mean, ((0, 0), (0, 0), (1, 1), (0, 0)), mode="edge")
        return (padded[:, :, :-2] + padded[:, :, 1:-1] + padded[:, :, 2:]) / 3


@pytest.mark.parametrize(("h", "w", "max_pixels"), [(992, 448, 128 * 448), (1280, 960, 393216)])
def test_strips_equal_the_whole_image_within_the_bound(h: int, w: int, max_pixels: int) -> None:
    tensor = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    model = _LocalModel()
    whole = model.run(tensor)
    model.shapes.clear()
    strips = run_in_strips(model, tensor, max_pixels)
    assert strips.shape == whole.shape
    np.testing.assert_allclose(strips, whole, rtol=1e-6)
    assert len(model.shapes) > 1
    assert all(s[2] * s[3] <= max_pixels + 2 * DET_STRIP_OVERLAP * w for s in model.shapes)
    assert all(s[2] % 32 == 0 for s in model.shapes)


def test_detector_runs_whole_images_under_the_bound() -> None:
    model = _LocalModel()
    det = TextDetector(model, strip_pixels=1024 * 1024)
    det.infer([np.zeros((1, 3, 512, 512), np.float32)] * 2)
    assert model.shapes == [(2, 3, 512, 512)]
