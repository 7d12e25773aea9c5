"""Visual rows of a receipt: OCR lines that share a baseline, left to right, top to bottom.

The detector often cuts one printed row into pieces ("SWC" "ENTERPRISE" "SDN" "BHD", or a label
on the left and its amount on the right), and the order it returns lines in is not guaranteed, so
the rules work on rows rebuilt from geometry alone: a line joins a row when its vertical extent
overlaps that row's last line by at least half the smaller height and it does not overlap that
row horizontally.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.ocr.types import Quad, TextLine

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Piece:
    """One OCR line with its axis-aligned box."""

    text: str
    score: float
    quad: Quad
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)


@dataclass(frozen=True)
class Row:
    """Pieces on one visual row, left to right; `text` joins them with single spaces."""

    pieces: tuple[Piece, ...]
    index: int  # position from the top, 0-based

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.pieces)

    @property
    def y0(self) -> float:
        return min(p.y0 for p in self.pieces)

    @property
    def y1(self) -> float:
        return max(p.y1 for p in self.pieces)

    @property
    def height(self) -> float:
        return max(p.height for p in self.pieces)

    @property
    def score(self) -> float:
        return min(p.score for p in self.pieces)

    @property
    def quads(self) -> tuple[Quad, ...]:
        return tuple(p.quad for p in self.pieces)


def _piece(line: TextLine) -> Piece | None:
    text = _SPACES.sub(" ", line.text).strip()
    if not text:
        return None
    xs = [x for x, _ in line.quad.points]
    ys = [y for _, y in line.quad.points]
    score = min(max(float(line.score), 0.0), 1.0)
    return Piece(text, score, line.quad, min(xs), min(ys), max(xs), max(ys))


def _joins(row: list[Piece], piece: Piece) -> bool:
    last = row[-1]
    overlap = min(last.y1, piece.y1) - max(last.y0, piece.y0)
    if overlap < 0.5 * min(last.height, piece.height):
        return False
    return all(piece.x0 >= p.x1 - 0.2 * p.height or piece.x1 <= p.x0 for p in row)


def build_rows(lines: Sequence[TextLine]) -> list[Row]:
    """Rows from top to bottom; each row's pieces from left to right."""
    pieces = sorted(
        (p for p in map(_piece, lines) if p is not None), key=lambda p: (p.y0 + p.y1) / 2
    )
    groups: list[list[Piece]] = []
    for piece in pieces:
        target = next((g for g in reversed(groups[-3:]) if _joins(g, piece)), None)
        if target is None:
            groups.append([piece])
        else:
            target.append(piece)
    groups.sort(key=lambda g: min(p.y0 for p in g) + max(p.y1 for p in g))
    return [Row(tuple(sorted(g, key=lambda p: p.x0)), i) for i, g in enumerate(groups)]
