"""Images that cost far more to read than they weigh, for the hostile tests and the load driver
(loadtest/hostile.py): a progressive JPEG with thousands of scans, decompression-style PNGs,
a dense page with long lines and a tiny word image."""

from __future__ import annotations

import io
import random

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from service.ocr.decode import EOI, SOS, jpeg_segments


def many_scans_jpeg(side: int, scans: int) -> bytes:
    """A white progressive JPEG whose last scan (an AC refinement with nothing to refine: a few
    dozen bytes) is repeated ``scans`` times. libjpeg only warns about the repeats and decodes
    every one: a pass over all ``side`` x ``side`` pixels each (~26 ms at 6000 px here)."""
    buf = io.BytesIO()
    PILImage.new("L", (side, side), 255).save(buf, "JPEG", progressive=True, quality=90)
    data = buf.getvalue()
    segments = list(jpeg_segments(data))
    _, start, end = [s for s in segments if s[0] == SOS][-1]
    eoi = next(s[1] for s in segments if s[0] == EOI)
    return data[:eoi] + data[start:end] * scans + data[eoi:]


def blank_png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A one-colour PNG: ~130 KB that decodes to width x height pixels (40 Mpx: 120 MB)."""
    buf = io.BytesIO()
    PILImage.new(mode, (width, height), "white").save(buf, "PNG")
    return buf.getvalue()


WORDS = ("total", "amount", "invoice", "receipt", "cash", "change", "item", "price", "tax", "qty")


def dense_page(lines: int = 110, size: tuple[int, int] = (3000, 4000), seed: int = 0) -> bytes:
    """A page of ``lines`` long lines of words, each line almost the page's width (PNG)."""
    rng = random.Random(seed)
    page = PILImage.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=max(12, int(size[1] / lines * 0.7)))
    step = size[1] / (lines + 1)
    for i in range(lines):
        words = " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(40))
        draw.text((40, step * (i + 0.5)), words, fill=0, font=font)
    buf = io.BytesIO()
    page.save(buf, "PNG")
    return buf.getvalue()


def tiny_word(text: str = "Receipt 42") -> bytes:
    """A small image with one word (PNG, 240 x 64)."""
    im = PILImage.new("L", (240, 64), 255)
    ImageDraw.Draw(im).text((12, 14), text, fill=0, font=ImageFont.load_default(size=30))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
