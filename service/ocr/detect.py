"""DB text detector stage: resize + normalise -> engine -> db_postprocess -> quads in source px.

``preprocess`` and ``postprocess`` are pure; ``infer`` is the engine step, called with one
image by the CLI and with a batch of same-shape tensors (padded to one shape: the geometry
records the valid region) by the server's batcher. ``detect`` is the three steps for one image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from service.engines.base import Engine, Tensor, warm_up
from service.ocr.db_postprocess import DetGeometry, db_postprocess
from service.ocr.errors import ModelError
from service.ocr.types import Detection, DetOptions, Image, Pixels

__all__ = [
    "DET_MAX_PIXELS",
    "DET_MAX_SIDE",
    "PPOCR_V4_DET_INPUT",
    "PPOCR_V6_DET_INPUT",
    "DetGeometry",
    "DetInputSpec",
    "TextDetector",
    "bucket_shape",
    "parse_buckets",
    "preprocess_image",
    "resized_shape",
]

_BINARIZE = DetOptions().thresh  # a region of a probability map: as the default options bound it
DET_ALIGN = 32  # the DB backbone downsamples by 32: both input sides are multiples of it
DET_MAX_SIDE = 4000  # safety caps, whatever the options ask for: bound tensor size and latency
DET_MAX_PIXELS = 3200 * 3200
# Rows neighbouring strips of a tiled detector run share (and cross-fade over).
DET_STRIP_OVERLAP = 128
# Inputs over the strip bound (docs/benchmarks.md, "Detector strips"): text at least this thick
# (rows of the full-size input) is read from the whole page shrunk to the bound, not from strips,
# which see only part of it; a page with fewer thinner regions than this (in the shrunk page) is
# read shrunk alone: on scene photos that beat both strips and the full-size page.
DET_LARGE_TEXT_ROWS = 24
DET_DOCUMENT_REGIONS = 12


@dataclass(frozen=True)
class DetInputSpec:
    """A detection model's input contract: ``(pixel * scale - mean) / std`` per channel.

    ``mean`` and ``std`` are listed in ``channel_order``, the order the model expects.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: Literal["BGR", "RGB"] = "BGR"
    scale: float = 1.0 / 255.0


# Checked on SROIE + FUNSD (max 960): each model's map fits the DB-shrunk GT kernels better
# (lower balanced BCE) and finds more lines under its own contract than under the other one.
PPOCR_V6_DET_INPUT = DetInputSpec(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
PPOCR_V4_DET_INPUT = DetInputSpec(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def resized_shape(
    height: int,
    width: int,
    opts: DetOptions,
    max_side: int = DET_MAX_SIDE,
    max_pixels: int = DET_MAX_PIXELS,
) -> tuple[int, int]:
    """Model input ``(h, w)`` for a source image: aspect kept, both sides multiples of 32.

    ``limit_type="max"`` shrinks so the long side is at most ``limit_side_len``; ``"min"`` grows
    so the short side is at least ``limit_side_len``. Neither ever exceeds the safety caps.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image sides must be positive, got {height}x{width}")
    limit = float(opts.limit_side_len)
    if opts.limit_type == "max":
        ratio = min(1.0, limit / max(height, width))
    else:
        ratio = max(1.0, limit / min(height, width))
    ratio = min(ratio, max_side / max(height, width), math.sqrt(max_pixels / (height * width)))
    side_cap = max(DET_ALIGN, max_side // DET_ALIGN * DET_ALIGN)
    h, w = _align(height * ratio, side_cap), _align(width * ratio, side_cap)
    while h * w > max_pixels and max(h, w) > DET_ALIGN:  # rounding up may overshoot the cap
        if h >= w:
            h -= DET_ALIGN
        else:
            w -= DET_ALIGN
    return h, w


def _align(side: float, cap: int) -> int:
    return min(cap, max(DET_ALIGN, round(side / DET_ALIGN) * DET_ALIGN))


def parse_buckets(text: str) -> tuple[int, ...]:
    """``"640, 960,1280"`` -> (640, 960, 1280): sorted, unique, each a positive multiple of 32."""
    try:
        sides = sorted({int(s) for s in text.replace(" ", "").split(",") if s})
    except ValueError as exc:
        raise ValueError(f"detector buckets must be integers, got {text!r}") from exc
    bad = [s for s in sides if s <= 0 or s % DET_ALIGN]
    if bad:
        raise ValueError(f"detector buckets must be positive multiples of {DET_ALIGN}: {bad}")
    return tuple(sides)


def bucket_shape(h: int, w: int, buckets: tuple[int, ...]) -> tuple[int, int]:
    """The padded input shape: each side rounded up to the next bucket. A side beyond the last
    bucket keeps its own (32-aligned) size: never shrink what resizing chose."""
    if not buckets:
        return h, w
    return (
        next((b for b in buckets if b >= h), h),
        next((b for b in buckets if b >= w), w),
    )


def pad_to(tensor: Tensor, shape: tuple[int, int]) -> Tensor:
    """Zero-pad a (1, 3, h, w) tensor at the bottom/right; DetGeometry keeps the valid region,
    so post-processing ignores the padding."""
    h, w = tensor.shape[2:]
    if (h, w) == shape:
        return tensor
    out = np.zeros((tensor.shape[0], tensor.shape[1], *shape), dtype=np.float32)
    out[:, :, :h, :w] = tensor
    return out


def preprocess_image(
    pixels: Pixels,
    opts: DetOptions,
    spec: DetInputSpec,
    max_side: int = DET_MAX_SIDE,
    max_pixels: int = DET_MAX_PIXELS,
) -> tuple[Tensor, DetGeometry]:
    """BGR uint8 ``(H, W, 3)`` pixels -> normalised float32 ``(1, 3, h, w)`` tensor + geometry."""
    bgr = _as_bgr(pixels)
    src_h, src_w = bgr.shape[:2]
    h, w = resized_shape(src_h, src_w, opts, max_side, max_pixels)
    resized = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    if spec.channel_order == "RGB":
        resized = resized[:, :, ::-1]
    std = np.asarray(spec.std, dtype=np.float32)
    gain = np.float32(spec.scale) / std
    offset = np.asarray(spec.mean, dtype=np.float32) / std
    chw = (resized.astype(np.float32) * gain - offset).transpose(2, 0, 1)
    tensor = np.ascontiguousarray(chw[np.newaxis], dtype=np.float32)
    return tensor, DetGeometry(src_h=src_h, src_w=src_w, resized_h=h, resized_w=w)


def _as_bgr(pixels: npt.NDArray[np.uint8]) -> Pixels:
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        return np.asarray(cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.asarray(cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected BGR pixels of shape (H, W, 3), got {arr.shape}")
    return arr


class TextDetector:
    """A DB text detector: an engine plus the model's input contract.

    Holds no per-request state; options are passed with every call.
    """

    def __init__(
        self,
        engine: Engine,
        spec: DetInputSpec = PPOCR_V6_DET_INPUT,
        max_side: int = DET_MAX_SIDE,
        max_pixels: int = DET_MAX_PIXELS,
        buckets: tuple[int, ...] = (),
        max_batch: int = 1,
        strip_pixels: int = 0,
        crop_margin: float = 0.0,
    ) -> None:
        self.engine = engine
        # Recognition crops are cut this fraction of a box's height taller on each side: a
        # model property (catalogue `crop_margin`) for boxes tighter than the recogniser reads best.
        self.crop_margin = crop_margin
        self.max_batch = max_batch  # images per engine call when a batcher groups them
        # Inputs larger than this run in horizontal strips (0 = never): bounds the engine's
        # activations (~200 B per input pixel) whatever the page size.
        self.strip_pixels = strip_pixels
        self.spec = spec
        self.max_side = max_side
        self.max_pixels = max_pixels
        # Bucketed input shapes (GPU engines tune kernels, build TensorRT profiles or capture
        # CUDA graphs once per shape); () = every 32-aligned shape, cheapest on CPU.
        self.buckets = buckets

    def preprocess(self, image: Image | Pixels, opts: DetOptions) -> tuple[Tensor, DetGeometry]:
        pixels = image.pixels if isinstance(image, Image) else image
        tensor, geometry = preprocess_image(pixels, opts, self.spec, self.max_side, self.max_pixels)
        h, w = tensor.shape[2:]
        return pad_to(tensor, bucket_shape(h, w, self.buckets)), geometry

    def warmup_shapes(self) -> list[tuple[int, int]]:
        """Every bucket shape a request can produce (within the pixel cap), or one page-like
        shape when unbucketed."""
        if not self.buckets:
            return [(960, 736)]
        return [(h, w) for h in self.buckets for w in self.buckets if h * w <= self.max_pixels]

    def postprocess(
        self, prob_map: npt.NDArray[np.float32], geometry: DetGeometry, opts: DetOptions
    ) -> list[Detection]:
        """One image's model output (``(1, 1, H, W)``, ``(1, H, W)`` or ``(H, W)``) -> quads."""
        return db_postprocess(prob_map, geometry, opts)

    def warmup(self) -> None:
        """One inference per input shape: allocates buffers / tunes kernels up front."""
        for shape in self.warmup_shapes():
            warm_up(self.engine, (3, *shape), self.max_batch)

    def infer(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """(1, 3, h, w) tensors of one shape -> one probability map each, in one engine call
        (over ``strip_pixels``: each tensor on its own, by ``run_large``)."""
        h, w = tensors[0].shape[2:]
        if 0 < self.strip_pixels < h * w:
            return [run_large(self.engine, t, self.strip_pixels)[0] for t in tensors]
        out = self.engine.run(np.concatenate(tensors))
        if out.shape[0] != len(tensors):
            raise ModelError(f"detector returned {out.shape[0]} maps for {len(tensors)} images")
        return [out[i] for i in range(len(tensors))]

    def detect(self, image: Image | Pixels, opts: DetOptions) -> list[Detection]:
        tensor, geometry = self.preprocess(image, opts)
        return self.postprocess(self.infer([tensor])[0], geometry, opts)


def run_large(engine: Engine, tensor: Tensor, max_pixels: int) -> Tensor:
    """The probability map of a (1, 3, H, W) input over ``max_pixels``, in calls of at most that
    many pixels. First the whole page shrunk to fit: when it shows fewer than
    ``DET_DOCUMENT_REGIONS`` small text regions (a photo, a sign), that map is the answer. A
    document's small text needs full size: strips, with the large text (which a strip would cut)
    taken from the shrunk page."""
    h, w = tensor.shape[2:]
    overview = engine.run(shrink(tensor, max_pixels))
    labels, large = text_regions(overview[0, 0], DET_LARGE_TEXT_ROWS * overview.shape[2] / h)
    if (~large[1:]).sum() < DET_DOCUMENT_REGIONS:
        return upsample(overview, (h, w))
    overview *= large[labels]  # only its large text is kept (small, while the strips run)
    prob = run_in_strips(engine, tensor, max_pixels)
    if large.any():
        np.maximum(prob, upsample(overview, (h, w)), out=prob)
    return prob


def shrink(tensor: Tensor, max_pixels: int) -> Tensor:
    """A (1, C, H, W) input resized (area) to at most ``max_pixels``, sides 32-aligned."""
    h, w = tensor.shape[2:]
    f = math.sqrt(max_pixels / (h * w))
    size = (
        max(DET_ALIGN, int(w * f) // DET_ALIGN * DET_ALIGN),
        max(DET_ALIGN, int(h * f) // DET_ALIGN * DET_ALIGN),
    )
    hwc = cv2.resize(tensor[0].transpose(1, 2, 0), size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(hwc.reshape(size[1], size[0], -1).transpose(2, 0, 1)[None])


def upsample(prob: Tensor, shape: tuple[int, int]) -> Tensor:
    """A (1, 1, h, w) map resized (bilinear) to ``shape``."""
    out = cv2.resize(prob[0, 0], (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return out[None, None]


def text_regions(
    prob: Tensor, min_rows: float
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """(H, W) map -> its text regions' labels (0: background) and, per label, whether the region
    is at least ``min_rows`` thick (area over the longer side of its bounding box)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        (prob > _BINARIZE).astype(np.uint8), connectivity=4
    )
    thick = stats[:, cv2.CC_STAT_AREA] / np.maximum(1, stats[:, 2:4].max(axis=1))
    large = thick >= min_rows
    large[0] = False  # the background
    return np.asarray(labels, np.int32), large


def run_in_strips(engine: Engine, tensor: Tensor, max_pixels: int) -> Tensor:
    """The probability map of a (1, 3, H, W) input computed strip by strip: each strip has at
    most ``max_pixels`` (32-aligned rows; at least ``DET_STRIP_OVERLAP`` + 32), and neighbouring
    strips share ``DET_STRIP_OVERLAP`` rows, across which their maps are cross-faded: a strip's
    weight rises linearly from 0 at its inner edge (where it lacks context) to 1. The detector
    pools globally, so strips never match the whole map exactly; a hard cut between them broke
    text at the seam. Peak memory is one strip's; the cost is the overlap's extra rows."""
    h, w = tensor.shape[2:]
    rows = max(DET_STRIP_OVERLAP + DET_ALIGN, max_pixels // w // DET_ALIGN * DET_ALIGN)
    acc: Tensor | None = None
    total = np.zeros((h, 1), np.float32)
    for top in _strip_tops(h, rows):
        hi = min(h, top + rows)
        weight = _fade(hi - top, fade_in=top > 0, fade_out=hi < h)
        prob = engine.run(tensor[:, :, top:hi])
        if acc is None:
            acc = np.zeros((*prob.shape[:-2], h, prob.shape[-1]), np.float32)
        prob *= weight
        acc[..., top:hi, :] += prob
        total[top:hi] += weight
    assert acc is not None  # h > 0: at least one strip ran
    acc /= total
    return acc


def _strip_tops(h: int, rows: int) -> list[int]:
    """First rows of strips of ``rows`` rows covering ``h``, ``DET_STRIP_OVERLAP`` shared by
    neighbours; the last strip ends at the bottom (it shares more when ``h`` falls short)."""
    step = rows - DET_STRIP_OVERLAP
    tops = list(range(0, max(1, h - rows + step), step))
    return [min(top, max(0, h - rows)) for top in tops]


def _fade(n: int, fade_in: bool, fade_out: bool) -> Tensor:
    """(n, 1) weights: linear from 0 over the first / last ``DET_STRIP_OVERLAP`` rows, else 1."""
    r = np.arange(n, dtype=np.float32)[:, None]
    weight = np.ones((n, 1), np.float32)
    if fade_in:
        weight = np.minimum(weight, r / DET_STRIP_OVERLAP)
    if fade_out:
        weight = np.minimum(weight, (n - 1 - r) / DET_STRIP_OVERLAP)
    return weight
