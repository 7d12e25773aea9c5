"""Tiled detection (OCR_DET_STRIP_PIXELS): strips cover every row, each engine call stays within
the pixel bound, a model whose output at a pixel depends only on rows within the overlap gives
the whole-image map, strips join without a seam, and text too large for a strip is read from
the whole page shrunk."""

from __future__ import annotations

import numpy as np
import pytest

from service.engines.base import EngineBase, Tensor
from service.ocr.detect import DET_STRIP_OVERLAP, TextDetector, run_in_strips, run_large


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


class _PoolingModel(_LocalModel):
    """Channel mean plus the strip's own global mean: like the DB detector's pooled channel
    weights, what a strip sees of the page changes its whole map."""

    def run(self, batch: Tensor) -> Tensor:
        return super().run(batch) + batch.mean(axis=(1, 2, 3), keepdims=True)


def test_strips_of_a_globally_pooling_model_join_without_a_seam() -> None:
    h, w = 1280, 256
    ramp = np.linspace(0, 1, h, dtype=np.float32)[None, None, :, None]
    tensor = np.broadcast_to(ramp, (1, 3, h, w)).copy()
    model = _PoolingModel()
    strips = run_in_strips(model, tensor, 384 * w)[0, 0, :, 0]
    strip_means = [s.mean() for s in (tensor[:, :, :384], tensor[:, :, 256:640])]
    jump = abs(strip_means[1] - strip_means[0])  # what a hard cut would leave at a seam
    assert jump > 0.1
    assert np.abs(np.diff(strips)).max() < jump / 20


class _WholeTextModel(_LocalModel):
    """Bright rows form text; a run of them touching the input's top or bottom edge is not read
    (like text a strip cuts off)."""

    def run(self, batch: Tensor) -> Tensor:
        self.shapes.append(batch.shape)
        ink = (batch.mean(axis=1, keepdims=True) > 0.5).astype(np.float32)
        rows = ink[0, 0].any(axis=1)
        edges = np.flatnonzero(np.diff(np.r_[0, rows.astype(np.int8), 0]))
        for top, end in zip(edges[::2], edges[1::2], strict=True):
            if top == 0 or end == len(rows):
                ink[..., top:end, :] = 0
        return ink


def _page(bands: list[tuple[int, int]], h: int = 1280, w: int = 256) -> Tensor:
    page = np.zeros((1, 3, h, w), np.float32)
    for top, end in bands:
        page[:, :, top:end, 20:220] = 1
    return page


_LINES = [(top, top + 8) for top in range(560, 1260, 50)]  # 14 small lines: a document


def test_a_documents_large_text_comes_from_the_whole_page_its_small_text_from_strips() -> None:
    page = _page([(200, 500), *_LINES])  # a 300-row heading above the lines
    model = _WholeTextModel()
    assert run_in_strips(model, page, 384 * 256)[0, 0, 250:450, 100].max() == 0  # strips cut it
    model.shapes.clear()
    prob = run_large(model, page, 384 * 256)[0, 0]
    assert prob[220:480, 100].min() > 0.5  # the heading, whole
    assert all(prob[top + 2 : end - 2, 100].min() > 0.5 for top, end in _LINES)
    assert prob[520:550, 100].max() == 0
    assert len(model.shapes) > 2  # the shrunk page, then strips
    assert all(s[2] * s[3] <= 384 * 256 for s in model.shapes)


def test_a_page_of_few_text_regions_is_read_once_shrunk() -> None:
    model = _WholeTextModel()
    prob = run_large(model, _page([(200, 500), (700, 1000), (1100, 1110)]), 384 * 256)[0, 0]
    assert len(model.shapes) == 1
    assert prob.shape == (1280, 256)
    assert prob[220:480, 100].min() > 0.5 and prob[720:980, 100].min() > 0.5


def test_a_page_of_small_text_is_read_in_strips_alone() -> None:
    page = _page(_LINES)
    strips = run_in_strips(_WholeTextModel(), page, 384 * 256)
    np.testing.assert_array_equal(run_large(_WholeTextModel(), page, 384 * 256), strips)
    assert strips[0, 0, 562:566, 100].min() > 0.5
