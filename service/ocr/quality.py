"""A cheap image-quality signal, measured where the text is.

A whole-page measure says little about reading: a receipt photographed on a dark table has a
sharp, high-contrast border and blurred print. So every number here is the median over the
detected text regions (the detector's quads, before any line is dropped): how sharp a typical
line is, how much contrast it has, how tall it is. The assembly of a result
(``OcrPipeline.assemble``) measures it; the thresholds below turn it into a warning when reading
is likely to suffer (calibrated against CER on degraded copies of the dev sets: docs/benchmarks.md).
A page with no text region is "no text", never poor quality: every number is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from service.ocr.errors import ImageQualityPoor
from service.ocr.types import Pixels, Quad, Quality, QualityWarning

# Tuned on 24 dev pages x 6 degradations, reported on 20 others (docs/benchmarks.md,
# "Image-quality signal"): pages below these read with a CER several times that of the rest.
BLURRY_BELOW = 300.0  # sharpness: variance of the Laplacian of the contrast-stretched region
TOO_SMALL_BELOW = 13.0  # text_height_px: the detected box's height, px
# No fading tested (contrast squeezed 5x, down to 0.063) raised CER: this flags only print
# fainter than anything measured, where 8-bit grey levels leave a handful of shades for ink.
LOW_CONTRAST_BELOW = 0.05  # contrast: (p95 - p5) / 255 of the region's grey levels
POOR = "IMAGE_QUALITY_POOR"
MIN_PIXELS = 16  # a region smaller than this says nothing about sharpness
Gray = npt.NDArray[np.uint8]
HINTS = {
    "blurry": "the text is blurred: hold the camera steady and focus on the text",
    "text_too_small": "the text is too small: move closer, or scan at a higher resolution",
    "low_contrast": "the text is faint: use more even light, or scan with more contrast",
}


def reasons(quality: Quality) -> tuple[str, ...]:
    """Why reading is likely to suffer, in the order of HINTS (empty: fine, or no text)."""
    poor = {
        "blurry": _below(quality.sharpness, BLURRY_BELOW),
        "text_too_small": _below(quality.text_height_px, TOO_SMALL_BELOW),
        "low_contrast": _below(quality.contrast, LOW_CONTRAST_BELOW),
    }
    return tuple(reason for reason, is_poor in poor.items() if is_poor)


def _below(value: float | None, threshold: float) -> bool:
    return value is not None and value < threshold


def measure(pixels: Pixels, quads: Sequence[Quad]) -> Quality:
    """The quality of the text regions ``quads`` of a BGR page."""
    gray: Gray = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), np.uint8)
    found = [(q, s) for q in quads if (s := region_stats(gray, q)) is not None]
    if not found:
        return Quality()
    return Quality(
        sharpness=_median([s[0] for _, s in found]),
        contrast=_median([s[1] for _, s in found]),
        text_height_px=_median([quad_height(q) for q, _ in found]),
    )


def warnings_for(quality: Quality) -> tuple[QualityWarning, ...]:
    found = reasons(quality)
    hint = "; ".join(HINTS[r] for r in found)
    return (QualityWarning(POOR, found, hint),) if found else ()


def refuse_poor(warnings: Sequence[dict[str, object]]) -> None:
    """``quality="strict"``: a result with a poor-quality warning becomes an error. Judges the
    exported warnings, so a cached result is judged like a fresh one."""
    for w in warnings:
        if w.get("code") == POOR:
            reasons = w.get("reasons")
            shown = ", ".join(map(str, reasons)) if isinstance(reasons, list) else "poor"
            hint = w.get("hint")
            raise ImageQualityPoor(f"image too poor to read reliably ({shown}): {hint}")


def region_stats(gray: Gray, quad: Quad) -> tuple[float, float] | None:
    """(sharpness, contrast) of one text region; None when it has too few pixels. Sharpness is
    measured after stretching the region's grey levels to 0..255, so that faint print is
    reported as low contrast rather than also as blurred."""
    box, inside = _cut(gray, quad)
    values = box[inside]
    if values.size < MIN_PIXELS:
        return None
    lo, hi = _percentiles(values)
    spread = float(hi - lo)
    stretched = (box.astype(np.float32) - float(lo)) * (255.0 / max(spread, 1.0))
    laplacian = cv2.Laplacian(stretched, cv2.CV_32F)[inside]
    return float(laplacian.var()), spread / 255.0


def _percentiles(values: Gray) -> tuple[int, int]:
    """The 5th and 95th percentile grey levels, from a histogram (uint8: no sort needed)."""
    cumulative = np.cumsum(np.bincount(values, minlength=256))
    lo, hi = np.searchsorted(cumulative, (0.05 * values.size, 0.95 * values.size))
    return int(lo), int(hi)


def quad_height(quad: Quad) -> float:
    """Mean length of the left and right edges: the box height of a line at any angle."""
    p = quad.as_array()
    return float((np.linalg.norm(p[3] - p[0]) + np.linalg.norm(p[2] - p[1])) / 2.0)


def _cut(gray: Gray, quad: Quad) -> tuple[Gray, npt.NDArray[np.bool_]]:
    """The quad's bounding box (clipped to the page) and which of its pixels are inside it."""
    pts = np.round(quad.as_array()).astype(np.int32)
    x, y, w, h = cv2.boundingRect(pts)
    x0, y0 = max(x, 0), max(y, 0)
    box = gray[y0 : y + h, x0 : x + w]
    mask = np.zeros(box.shape, np.uint8)
    if box.size:
        cv2.fillPoly(mask, [pts - np.array([x0, y0], np.int32)], 1)
    return box, mask.astype(bool)


def _median(values: Sequence[float]) -> float:
    return round(float(np.median(values)), 3)
