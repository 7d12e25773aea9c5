"""Render known text with real fonts: the ground truth of the integration tests."""

from __future__ import annotations

import subprocess
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from service.ocr.types import Image, Pixels

LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font that covers Chinese, found by fontconfig (scripts/setup.sh --dev installs one)."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        return None
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return files[0] if files else None


def render_lines(
    lines: list[str], font_path: str = LATIN_FONT, size: int = 36, width: int = 1000
) -> Image:
    """Black text on white, one line per row, generous spacing: an easy page."""
    font = ImageFont.truetype(font_path, size)
    row = int(size * 2.2)
    page = PILImage.new("RGB", (width, row * len(lines) + size), "white")
    draw = ImageDraw.Draw(page)
    for i, text in enumerate(lines):
        draw.text((size, size // 2 + row * i), text, fill="black", font=font)
    return as_image(page)


def render_line(text: str, font_path: str = LATIN_FONT, size: int = 32, pad: int = 8) -> Pixels:
    """One tightly cropped text line, as a detector would cut it."""
    font = ImageFont.truetype(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    page = PILImage.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), "white")
    ImageDraw.Draw(page).text((pad - left, pad - top), text, fill="black", font=font)
    return as_image(page).pixels


def as_image(page: PILImage.Image) -> Image:
    rgb = np.asarray(page.convert("RGB"), dtype=np.uint8)
    return Image(pixels=np.ascontiguousarray(rgb[:, :, ::-1]), format="RAW")
