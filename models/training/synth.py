"""Synthetic text lines: a corpus string rendered with a real font (Debian's TrueType fonts),
on a paper-like background, then degraded (``augment``). Sample ``i`` of seed ``s`` depends
only on ``(s, i)``: the same command makes the same set, in any order or process."""

from __future__ import annotations

import math
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PilImage
from PIL import ImageDraw, ImageFont

from models.training.augment import Rng, augment
from models.training.sources import encode_png
from service.ocr.types import Pixels

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
# Latin fonts only: CJK families render Latin text too, but with their own metrics
SKIP_FONTS = ("wqy", "noto-cjk", "droid", "glyphicons", "math")


class NoFontsError(RuntimeError):
    """No TrueType font was found to render with."""


def find_fonts(dirs: Sequence[Path] = FONT_DIRS) -> list[Path]:
    """The Latin .ttf fonts installed (sorted, so a seed picks the same font everywhere)."""
    found = sorted(p for d in dirs if d.is_dir() for p in d.rglob("*.ttf"))
    fonts = [p for p in found if not any(s in str(p).lower() for s in SKIP_FONTS)]
    if not fonts:
        raise NoFontsError(f"no .ttf fonts under {', '.join(map(str, dirs))}; install fonts-dejavu")
    return fonts


def random_text(rng: Rng) -> str:
    """A receipt-like line: upper-case words, numbers, prices, dates, codes."""
    makers = (
        lambda: "".join(rng.choice(list(string.ascii_uppercase), int(rng.integers(2, 10)))),
        lambda: f"{rng.uniform(0, 999):.2f}",
        lambda: str(int(rng.integers(0, 99999))),
        lambda: f"{rng.integers(1, 29):02d}/{rng.integers(1, 13):02d}/20{rng.integers(10, 30)}",
        lambda: str(rng.choice(["RM", "TOTAL", "QTY", "GST", "TAX", ":", "-", "@", "%", "X"])),
    )
    weights = np.array([0.5, 0.2, 0.12, 0.06, 0.12])
    picks = rng.choice(len(makers), int(rng.integers(1, 6)), p=weights)
    return " ".join(makers[k]() for k in picks)


@dataclass(frozen=True)
class LineRenderer:
    fonts: tuple[Path, ...]
    corpus: tuple[str, ...] = ()  # lines of text; empty: random receipt-like text
    corpus_share: float = 0.7  # the rest is random text, for characters the corpus lacks
    degrade: float = 0.4  # probability of each degradation (``augment.OPS``)

    def text(self, rng: Rng) -> str:
        if self.corpus and rng.random() < self.corpus_share:
            return self.corpus[int(rng.integers(len(self.corpus)))]
        return random_text(rng)

    def render(self, text: str, rng: Rng) -> Pixels:
        """Dark text on a light, uneven background, with margins; BGR uint8."""
        size = int(rng.integers(18, 40))
        font = ImageFont.truetype(str(self.fonts[int(rng.integers(len(self.fonts)))]), size)
        left, top, right, bottom = font.getbbox(text)
        pad_x, pad_y = int(rng.integers(1, size // 2 + 2)), int(rng.integers(1, size // 4 + 2))
        w, h = math.ceil(right - left) + 2 * pad_x, math.ceil(bottom - top) + 2 * pad_y
        paper = int(rng.integers(170, 256))
        ink = int(rng.integers(0, max(1, paper - 90)))
        image = PilImage.new("L", (max(1, w), max(1, h)), paper)
        ImageDraw.Draw(image).text((pad_x - left, pad_y - top), text, fill=ink, font=font)
        gray = np.asarray(image, np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))

    def sample(self, seed: int, i: int) -> tuple[Pixels, str]:
        rng = np.random.default_rng([seed, i])
        text = self.text(rng)
        return augment(self.render(text, rng), rng, p=self.degrade), text


def synth_items(renderer: LineRenderer, count: int, seed: int) -> Iterator[tuple[bytes, str]]:
    """(PNG bytes, text) of samples 0..count-1 (the input of ``write_lmdb``)."""
    for i in range(count):
        pixels, text = renderer.sample(seed, i)
        yield encode_png(pixels), text
