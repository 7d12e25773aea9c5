"""The image-quality signal (service/ocr/quality.py) on drawn pages: sharp, blurred, faint,
tiny and blank text, each with the regions a detector would give; and strict mode refusing a
poor result. The thresholds themselves are calibrated on the dev sets (docs/benchmarks.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.ocr import quality
from service.ocr.errors import ImageQualityPoor
from service.ocr.export import export_result
from service.ocr.types import OcrResult, Pixels, Quad, Quality


def page(scale: float = 1.0, ink: int = 0, paper: int = 255) -> tuple[Pixels, list[Quad]]:
    """Three printed lines, and their boxes (as tall as the detector's unclipped boxes)."""
    h, w = int(400 * scale), int(600 * scale)
    img = np.full((h, w, 3), paper, np.uint8)
    quads = []
    for row in range(3):
        y = int((80 + row * 110) * scale)
        cv2.putText(img, "Total 12.50 RM", (int(40 * scale), y), 0, 1.4 * scale, (ink,) * 3, 2)
        top, bottom = y - int(45 * scale), y + int(15 * scale)
        left, right = int(25 * scale), int(500 * scale)
        quads.append(Quad(((left, top), (right, top), (right, bottom), (left, bottom))))
    return img, quads


def test_sharp_print_is_fine() -> None:
    q = quality.measure(*page())
    assert q.sharpness is not None and q.sharpness > quality.BLURRY_BELOW
    assert q.contrast is not None and q.contrast > 0.9
    assert q.text_height_px == pytest.approx(60, abs=1)
    assert quality.warnings_for(q) == ()


def test_blurred_print_is_blurry_and_nothing_else() -> None:
    img, quads = page()
    q = quality.measure(cv2.GaussianBlur(img, (0, 0), 5), quads)
    assert quality.reasons(q) == ("blurry",)
    (warning,) = quality.warnings_for(q)
    assert warning.code == "IMAGE_QUALITY_POOR" and "focus" in warning.hint


def test_faint_print_is_low_contrast_not_blurred() -> None:
    """Sharpness is measured on stretched grey levels: faint but sharp is not 'blurry'."""
    q = quality.measure(*page(ink=220, paper=229))
    assert quality.reasons(q) == ("low_contrast",)


def test_tiny_print_is_too_small() -> None:
    q = quality.measure(*page(scale=0.18))
    assert "text_too_small" in quality.reasons(q)


def test_a_blank_page_is_no_text_not_poor_quality() -> None:
    img, _ = page()
    q = quality.measure(np.full_like(img, 255), [])
    assert q == Quality() and quality.warnings_for(q) == ()


def test_strict_refuses_a_poor_result_and_keeps_a_good_one() -> None:
    img, quads = page()
    poor = quality.warnings_for(quality.measure(cv2.GaussianBlur(img, (0, 0), 5), quads))
    result = OcrResult((), 600, 400, "set", {}, {}, Quality(1.0, 0.1, 5.0), poor)
    doc = export_result(result)
    assert doc["warnings"][0]["reasons"] == ["blurry"]
    with pytest.raises(ImageQualityPoor, match="blurry"):
        quality.refuse_poor(doc["warnings"])
    quality.refuse_poor(export_result(OcrResult((), 1, 1, "set", {}, {}))["warnings"])
