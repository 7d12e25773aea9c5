"""Lines -> padded model batches, with the serving recogniser's own resize and normalisation
(``service.ocr.recognize``: aspect-kept resize to the model height, (px/255 - 0.5)/0.5, right
padding with 0.0), so a model trains on exactly what it will be served.

An epoch is planned up front from ``(seed, epoch)`` alone: the domain lines, ``general_ratio``
general lines per domain line, grouped by width (less padding) and shuffled as batches. Each
drawn line carries a draw number that seeds its augmentation, so resuming at batch ``k`` of an
epoch replays exactly what an uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from models.codec.charset import Charset
from models.training.augment import augment
from models.training.line_set import LineSource
from service.ocr.recognize import in_view, normalize, pad_right, resize_to_height
from service.ocr.types import Pixels

log = logging.getLogger(__name__)
STEP_PX = 8  # input px per output time step, as the serving recogniser assumes
GROUP_BATCHES = 16  # lines sorted by width within groups of this many batches (fewer: more
# padding; 1, 4 and 16 trained the tests' tiny CRNN no better or worse, within its noise)
Draw = tuple[int, int]  # (line index over all sources, draw number)


@dataclass(frozen=True)
class Batch:
    images: torch.Tensor  # (N, 3, H, W) float32
    targets: torch.Tensor  # concatenated class ids
    target_lengths: torch.Tensor  # (N,)


Item = tuple[npt.NDArray[np.float32], list[int]]  # (model input, class ids)


class Lines(Dataset[Item]):
    """Several sources as one indexable set of (model input, class ids) training items."""

    def __init__(
        self,
        sources: Sequence[LineSource],
        charset: Charset,
        height: int,
        max_width: int,
        augment_seed: int | None = None,
    ) -> None:
        self.sources = list(sources)
        self.charset = charset
        self.height, self.max_width = height, max_width
        self.augment_seed = augment_seed  # None: no augmentation (validation)
        self.index = [(s, i) for s, src in enumerate(self.sources) for i in range(len(src))]
        self.turns: Mapping[int, int] = {}  # line -> serving view (``TURNS``) it trains in

    def __len__(self) -> int:
        return len(self.index)

    def text(self, k: int) -> str:
        s, i = self.index[k]
        return self.sources[s].text(i)

    def aspect(self, k: int) -> float:
        s, i = self.index[k]
        ratio = self.sources[s].aspect(i)
        return 1.0 / ratio if k in self.turns else ratio

    def pixels(self, k: int) -> Pixels:
        """Line ``k`` as its source stores it (a crop, as the serving recogniser gets one),
        turned as ``turns`` says (a standing word trains in the view serving reads it in)."""
        s, i = self.index[k]
        return in_view(self.sources[s].pixels(i), self.turns.get(k, 0))

    def __getitem__(self, draw: Draw) -> Item:
        k, number = draw
        pixels = self.pixels(k)
        if self.augment_seed is not None:
            pixels = augment(pixels, np.random.default_rng([self.augment_seed, number]))
        line = resize_to_height(pixels, self.height, STEP_PX, self.max_width)
        known = [ch for ch in self.text(k) if self.charset.has(ch)]  # all, in training sets
        return normalize(line), self.charset.encode("".join(known))


def collate(items: Sequence[Item], buckets: Sequence[int] = ()) -> Batch:
    """Pad every line right (0.0, serving's padding) to the serving width bucket of the widest
    (or, without buckets, to the widest rounded up to STEP_PX): a model that reads padding —
    a BiLSTM's backward pass, an SVTR's global mixing — trains on the padding it is served."""
    widest = max(x.shape[2] for x, _ in items)
    width = math.ceil(widest / STEP_PX) * STEP_PX
    width = next((b for b in buckets if b >= width), max(width, *buckets, 0))
    images = np.stack([pad_right(x, width, 0.0) for x, _ in items])
    targets = [t for _, ids in items for t in ids]
    return Batch(
        torch.from_numpy(images),
        torch.tensor(targets, dtype=torch.long),
        torch.tensor([len(ids) for _, ids in items], dtype=torch.long),
    )


def encodable(lines: Lines, start: int, stop: int) -> tuple[list[int], dict[str, int]]:
    """Indices in [start, stop) whose text the charset can encode, and the characters that
    kept the others out (with counts) — reported, never dropped silently."""
    keep: list[int] = []
    missing: dict[str, int] = {}
    for k in range(start, stop):
        text = lines.text(k)
        bad = [ch for ch in text if not lines.charset.has(ch)]
        if bad or not text:
            for ch in bad:
                missing[ch] = missing.get(ch, 0) + 1
            continue
        keep.append(k)
    return keep, missing


def by_width(batches: list[list[int]], aspect: Sequence[float]) -> list[list[int]]:
    """Regroup consecutive batches so each holds lines of similar width."""
    size = max(len(b) for b in batches)
    flat = [k for b in batches for k in b]
    out: list[list[int]] = []
    for g in range(0, len(flat), size * GROUP_BATCHES):
        group = sorted(flat[g : g + size * GROUP_BATCHES], key=lambda k: aspect[k])
        out += [group[j : j + size] for j in range(0, len(group), size)]
    return out


@dataclass(frozen=True)
class EpochPlan:
    """Which lines make up each epoch: ``domain`` and ``general`` are indices into ``Lines``."""

    domain: tuple[int, ...]
    general: tuple[int, ...]
    general_ratio: float
    batch_size: int
    steps: int  # batches per epoch (0: one pass over the domain lines and their share)
    seed: int

    def batches(self, epoch: int, aspect: Sequence[float]) -> list[list[Draw]]:
        rng = np.random.default_rng([self.seed, epoch])
        picked = [*self.domain, *self._general(rng)]
        order = [picked[j] for j in rng.permutation(len(picked))]
        chunks = [order[j : j + self.batch_size] for j in range(0, len(order), self.batch_size)]
        chunks = by_width(chunks, aspect) if chunks else []
        chunks = [chunks[j] for j in rng.permutation(len(chunks))]
        if self.steps:
            chunks = [chunks[j % len(chunks)] for j in range(self.steps)]
        base = epoch * 10_000_000
        return [
            [(k, base + j * self.batch_size + n) for n, k in enumerate(b)]
            for j, b in enumerate(chunks)
        ]

    def _general(self, rng: np.random.Generator) -> list[int]:
        want = round(self.general_ratio * len(self.domain))
        if not self.general or want == 0:
            return []
        replace = want > len(self.general)
        return [self.general[j] for j in rng.choice(len(self.general), want, replace=replace)]
