"""What the markup and PDF writers need from a result document: axis-aligned boxes of
polygons, and each line's words (the recogniser's word boxes; a line without them is one word)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class Box(NamedTuple):
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def box(polygon: list[list[float]]) -> Box:
    """The whole pixels a polygon covers (never empty)."""
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    return Box(x0, y0, max(x0 + 1, math.ceil(max(xs))), max(y0 + 1, math.ceil(max(ys))))


def union(boxes: list[Box]) -> Box:
    return Box(
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )


def words(line: dict[str, Any]) -> list[dict[str, Any]]:
    """The line's words with their polygons; the whole line as one word where it has none."""
    found = [w for w in line.get("words") or [] if w["text"].strip()]
    return found or [{"polygon": line["polygon"], "text": line["text"]}]


def confidence(line: dict[str, Any]) -> int:
    """The line's recognition score in percent (words have no score of their own)."""
    return round(100 * float(line["score"]))
