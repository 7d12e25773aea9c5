"""TextDetector with the real det models on rendered text; preprocess shapes and caps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from shapely.geometry import Polygon, box

from service.engines.onnxruntime import OnnxEngine
from service.ocr.detect import (
    DET_MAX_PIXELS,
    DET_MAX_SIDE,
    PPOCR_V4_DET_INPUT,
    PPOCR_V6_DET_INPUT,
    DetGeometry,
    DetInputSpec,
    TextDetector,
    preprocess_image,
    resized_shape,
)
from service.ocr.types import DetOptions, Image

pytestmark = pytest.mark.integration

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LINES = ["Invoice number 2024-0815", "Total amount due: 67.89 EUR", "Thank you for your order"]


def _render(size: int = 30) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    canvas = PILImage.new("RGB", (760, 80 + len(LINES) * 3 * size), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.truetype(str(FONT), size)
    boxes = []
    for i, text in enumerate(LINES):
        xy = (40 + 20 * i, 40 + i * 3 * size)
        draw.text(xy, text, fill="black", font=font)
        left, top, right, bottom = draw.textbbox(xy, text, font=font)
        boxes.append((round(left), round(top), round(right), round(bottom)))
    bgr = np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1])
    return bgr, boxes


def _iou(quad: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    p, g = Polygon(quad), box(*rect)
    return float(p.intersection(g).area / p.union(g).area)


@pytest.fixture(scope="module", params=["v6", "v4"])
def detector(request: pytest.FixtureRequest) -> TextDetector:
    files = request.getfixturevalue(f"{request.param}_files")
    spec = PPOCR_V6_DET_INPUT if request.param == "v6" else PPOCR_V4_DET_INPUT
    return TextDetector(OnnxEngine(files["det"]), spec)


@pytest.mark.skipif(not FONT.exists(), reason="DejaVu font not installed")
def test_one_quad_per_rendered_line(detector: TextDetector) -> None:
    pixels, boxes = _render()
    dets = detector.detect(Image(pixels=pixels, format="RAW"), DetOptions())
    assert len(dets) == len(boxes)
    for rect in boxes:
        best = max(_iou(d.quad.as_array(), rect) for d in dets)
        assert best > 0.5, (rect, [d.quad for d in dets])
    assert all(0.5 < d.score <= 1.0 for d in dets)


@pytest.mark.skipif(not FONT.exists(), reason="DejaVu font not installed")
def test_padded_batch_gives_the_same_detections(detector: TextDetector) -> None:
    """A batcher may pad a tensor to a larger shape; the geometry keeps the valid region."""
    pixels, _ = _render()
    opts = DetOptions()
    tensor, geom = detector.preprocess(pixels, opts)
    padded = np.zeros((2, 3, tensor.shape[2] + 64, tensor.shape[3] + 96), dtype=np.float32)
    padded[0, :, : tensor.shape[2], : tensor.shape[3]] = tensor[0]
    batched = detector.postprocess(detector.engine.run(padded)[0], geom, opts)
    single = detector.detect(pixels, opts)
    assert len(batched) == len(single)
    for a, b in zip(batched, single, strict=True):
        assert np.abs(a.quad.as_array() - b.quad.as_array()).max() < 4.0


# --- preprocess: shapes, normalisation, caps (no model needed) ---------------------------------

SHAPES = [(1, 1), (31, 33), (100, 3000), (875, 443), (1000, 760), (2020, 942), (7016, 4961)]


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize(
    "opts",
    [
        DetOptions(),
        DetOptions(limit_type="min", limit_side_len=736),
        DetOptions(limit_side_len=1600),
        DetOptions(limit_type="min", limit_side_len=100_000),
    ],
)
def test_resized_shape_is_aligned_and_capped(hw: tuple[int, int], opts: DetOptions) -> None:
    h, w = resized_shape(*hw, opts)
    assert h % 32 == 0 and w % 32 == 0 and h >= 32 and w >= 32
    assert max(h, w) <= DET_MAX_SIDE and h * w <= DET_MAX_PIXELS
    if opts.limit_type == "max":
        assert max(h, w) <= max(opts.limit_side_len + 16, 32)
    if max(hw) > 200:  # aspect kept up to rounding to 32
        assert h / w == pytest.approx(hw[0] / hw[1], rel=0.1, abs=32 / min(h, w))


def test_huge_and_extreme_images_stay_bounded() -> None:
    huge_min = DetOptions(limit_type="min", limit_side_len=736)
    assert resized_shape(100_000, 100_000, huge_min) == resized_shape(4000, 4000, huge_min)
    h, w = resized_shape(10, 200_000, huge_min)
    assert (h, w) == (32, DET_MAX_SIDE // 32 * 32)
    assert max(resized_shape(7016, 4961, huge_min)) <= DET_MAX_SIDE


def test_preprocess_tensor_and_geometry() -> None:
    pixels = np.zeros((500, 300, 3), dtype=np.uint8)
    pixels[..., 2] = 255  # pure red in BGR
    tensor, geom = preprocess_image(pixels, DetOptions(limit_side_len=320), PPOCR_V6_DET_INPUT)
    assert tensor.dtype == np.float32 and tensor.flags["C_CONTIGUOUS"]
    assert tensor.shape == (1, 3, 320, 192)
    assert geom == DetGeometry(src_h=500, src_w=300, resized_h=320, resized_w=192)
    np.testing.assert_allclose(tensor[0, :, 10, 10], [-1.0, -1.0, 1.0], atol=1e-6)
    rgb = DetInputSpec(mean=(0.5,) * 3, std=(0.5,) * 3, channel_order="RGB")
    tensor_rgb, _ = preprocess_image(pixels, DetOptions(limit_side_len=320), rgb)
    np.testing.assert_allclose(tensor_rgb[0, :, 10, 10], [1.0, -1.0, -1.0], atol=1e-6)


def test_preprocess_accepts_gray_and_bgra() -> None:
    for pixels in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8)):
        tensor, _ = preprocess_image(pixels, DetOptions(), PPOCR_V6_DET_INPUT)
        assert tensor.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError):
        preprocess_image(np.zeros((0, 5, 3), np.uint8), DetOptions(), PPOCR_V6_DET_INPUT)
