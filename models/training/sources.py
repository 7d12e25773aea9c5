"""Where training lines come from: crop sets (``labels.jsonl`` of crops), page sets (lines cut
with the serving crop code from their ground-truth quads) and LMDB folders.

Every source is a ``LineSource``: a length, each line's text and width/height ratio (known
before decoding, so batches can be grouped by width), and its pixels (BGR uint8, as serving
decodes them). Page lines are cut once, at load, and kept PNG-encoded in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PilImage

from models.eval.datasets import Dataset, load_dataset
from models.training.line_set import LabelledLines, LineSource, decode_pixels
from models.training.lmdb_store import LmdbLines, is_lmdb
from service.ocr.crop import crop_quad
from service.ocr.types import Pixels, Quad


def encode_png(pixels: Pixels) -> bytes:
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError("cannot encode a crop as PNG")
    return buf.tobytes()


@dataclass(frozen=True)
class CropLines(LabelledLines):
    """A crop set's images, read from disk when asked for."""

    paths: tuple[Path, ...]

    @classmethod
    def from_dataset(cls, ds: Dataset) -> CropLines:
        paths = tuple(ds.image_path(s) for s in ds.samples)
        texts = tuple(str(s.text) for s in ds.samples)
        return cls(ds.name, ds.protocol, texts, _aspects(paths), paths)

    def pixels(self, i: int) -> Pixels:
        return decode_pixels(self.paths[i].read_bytes())


def _aspects(paths: Sequence[Path]) -> tuple[float, ...]:
    """Width / height of each image from its header (no pixel decoding)."""
    out = []
    for p in paths:
        with PilImage.open(p) as im:
            out.append(im.width / max(1, im.height))
    return tuple(out)


@dataclass(frozen=True)
class MemoryLines(LabelledLines):
    """Lines held as encoded images in memory (cut from pages, or rendered)."""

    images: tuple[bytes, ...]

    def pixels(self, i: int) -> Pixels:
        return decode_pixels(self.images[i])


def page_crops(ds: Dataset) -> list[tuple[Pixels, str]]:
    """Every transcribed, not-ignored ground-truth line of a page set, cut as serving cuts a
    detected quad (``service.ocr.crop.crop_quad``)."""
    out = []
    for sample in ds.samples:
        page = decode_pixels(ds.image_path(sample).read_bytes())
        for line in sample.lines:
            if line.ignore or not line.text or len(line.points) != 4:
                continue
            crop = crop_quad(page, Quad.from_array(np.asarray(line.points)))
            out.append((crop, line.text))
    return out


def page_lines(ds: Dataset) -> MemoryLines:
    crops = page_crops(ds)
    images = tuple(encode_png(c) for c, _ in crops)
    aspects = tuple(c.shape[1] / max(1, c.shape[0]) for c, _ in crops)
    return MemoryLines(ds.name, ds.protocol, tuple(t for _, t in crops), aspects, images)


def open_source(spec: str, datasets_dir: Path, limit: int | None = None) -> LineSource:
    """``NAME[:SPLIT]`` under ``datasets_dir``, a folder with labels.jsonl, or an LMDB folder."""
    where, _, split = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(where) if Path(where).exists() else datasets_dir / where
    if is_lmdb(path):
        return LmdbLines.open(path, limit)
    ds = load_dataset(path, limit=limit, split=split or None)
    if ds.kind == "page":
        return page_lines(ds)
    if ds.kind != "crop":
        raise ValueError(f"{spec}: a {ds.kind} set has no text lines to train on")
    return CropLines.from_dataset(ds)
