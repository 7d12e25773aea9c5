"""Frozen values passed between pipeline stages.

Pixel arrays are numpy uint8, shape (H, W, 3), BGR channel order (OpenCV's), C-contiguous.
Coordinates are float pixels of the decoded source image, x to the right, y down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
Points = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Image:
    """A decoded image: BGR uint8 pixels plus where they came from."""

    pixels: Pixels
    format: str  # "JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "RAW" (already an array)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True)
class Quad:
    """Four corners, clockwise from top-left (as read), in source-image pixels."""

    points: Points

    @classmethod
    def from_array(cls, arr: npt.ArrayLike) -> Quad:
        a = np.asarray(arr, dtype=np.float64).reshape(4, 2)
        pts = tuple((float(x), float(y)) for x, y in a)
        return cls(points=pts)  # type: ignore[arg-type]

    def as_array(self) -> npt.NDArray[np.float32]:
        return np.asarray(self.points, dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    """One text region found by the detector."""

    quad: Quad
    score: float


@dataclass(frozen=True)
class Crop:
    """An upright, axis-aligned text-line image cut out of the source."""

    pixels: Pixels
    quad: Quad  # where it came from in the source image
    det_score: float = 1.0


@dataclass(frozen=True)
class Recognition:
    """What the recogniser read from one crop."""

    text: str
    score: float
    # with word boxes asked for: (word, x0, x1), x as a fraction of the crop's width
    words: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True)
class Word:
    text: str
    quad: Quad


@dataclass(frozen=True)
class TextLine:
    quad: Quad
    text: str
    score: float  # recognition confidence in [0, 1]
    angle: Literal[0, 180] = 0
    det_score: float = 1.0
    words: tuple[Word, ...] = ()  # only when OcrOptions.word_boxes


@dataclass(frozen=True)
class DetOptions:
    """DB detector knobs; every field changes output, so all are part of the cache fingerprint."""

    limit_side_len: int = 1280
    limit_type: Literal["max", "min"] = "max"
    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5
    max_candidates: int = 1000
    min_size: float = 3.0
    use_dilation: bool = False
    score_mode: Literal["fast", "slow"] = "fast"


@dataclass(frozen=True)
class OcrOptions:
    """Every per-request knob of the reading flow. The values here are the defaults of the
    whole service: ``Settings`` takes its defaults from them, requests override settings."""

    det: DetOptions = field(default_factory=DetOptions)
    use_cls: bool = True
    cls_thresh: float = 0.9
    decoder: Literal["greedy", "beam"] = "greedy"
    beam_width: int = 5
    drop_score: float = 0.5  # lines whose recognition score is below this are dropped
    word_boxes: bool = False  # also locate each word of each line (TextLine.words)
    fields: Literal["receipt"] | None = None  # key fields read from the lines (service/fields)
    quality: Literal["warn", "strict"] = "warn"  # strict: a poor-quality page is an error

    def updated(self, changes: Mapping[str, Any]) -> OcrOptions:
        """A copy with flat option names replaced: ``use_cls``, ``decoder``... and the detector's
        as ``det_<field>`` (``det_thresh``), the names settings and requests use."""
        unknown = set(changes) - OPTION_NAMES
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}")
        det = {k[4:]: v for k, v in changes.items() if k.startswith("det_")}
        top = {k: v for k, v in changes.items() if not k.startswith("det_")}
        return replace(self, det=replace(self.det, **det), **top)


OPTION_NAMES = frozenset(
    [f"det_{f.name}" for f in fields(DetOptions)]
    + [f.name for f in fields(OcrOptions) if f.name != "det"]
)


@dataclass(frozen=True)
class Quality:
    """How readable the text regions look (service/ocr/quality.py): medians over the detected
    regions; ``None`` on a page without text."""

    sharpness: float | None = None  # variance of the Laplacian, grey levels stretched to 0..255
    contrast: float | None = None  # (p95 - p5) / 255 of the grey levels
    text_height_px: float | None = None  # the detected box's height


@dataclass(frozen=True)
class QualityWarning:
    code: str  # IMAGE_QUALITY_POOR
    reasons: tuple[str, ...]  # "blurry", "text_too_small", "low_contrast"
    hint: str  # what to do about it, for a person


@dataclass(frozen=True)
class OcrResult:
    lines: tuple[TextLine, ...]
    width: int
    height: int
    model_set: str
    model_versions: dict[str, str]
    timings_ms: dict[str, float]
    quality: Quality = field(default_factory=Quality)
    warnings: tuple[QualityWarning, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)
