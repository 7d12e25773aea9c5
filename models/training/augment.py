"""Image degradations for training lines: perspective, blur, noise, contrast, JPEG. Used on real
crops (``augment``) and to age rendered lines (``synth``). Every call takes its own
``numpy.random.Generator``, so a seed reproduces a sample wherever it is made."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from service.ocr.types import Pixels

Rng = np.random.Generator
Op = Callable[[Pixels, Rng], Pixels]


def perspective(px: Pixels, rng: Rng, amount: float = 0.08) -> Pixels:
    """Move each corner by up to ``amount`` of the line height (a slightly skewed cut)."""
    h, w = px.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = src + rng.uniform(-amount * h, amount * h, size=(4, 2)).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return np.asarray(cv2.warpPerspective(px, m, (w, h), borderMode=cv2.BORDER_REPLICATE))


def blur(px: Pixels, rng: Rng) -> Pixels:
    sigma = float(rng.uniform(0.3, 1.2)) * max(1.0, px.shape[0] / 32)
    return np.asarray(cv2.GaussianBlur(px, (0, 0), sigma))


def noise(px: Pixels, rng: Rng) -> Pixels:
    sigma = rng.uniform(2, 12)
    noisy = px.astype(np.float32) + rng.normal(0, sigma, px.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def contrast(px: Pixels, rng: Rng) -> Pixels:
    """Scale the contrast around mid-grey and shift the brightness."""
    gain, shift = rng.uniform(0.5, 1.3), rng.uniform(-40, 40)
    out = (px.astype(np.float32) - 128.0) * gain + 128.0 + shift
    return np.clip(out, 0, 255).astype(np.uint8)


def jpeg(px: Pixels, rng: Rng) -> Pixels:
    quality = int(rng.integers(30, 90))
    ok, buf = cv2.imencode(".jpg", px, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)) if ok else px


OPS: tuple[Op, ...] = (perspective, blur, noise, contrast, jpeg)


def augment(px: Pixels, rng: Rng, p: float = 0.3) -> Pixels:
    """Each degradation applied with probability ``p``, in a fixed order."""
    for op in OPS:
        if rng.random() < p:
            px = op(px, rng)
    return px
