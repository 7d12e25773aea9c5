"""What a run leaves behind besides its weights: a JSONL metrics log (one event per line) and,
at the end, a PNG plot of training loss and validation accuracy (drawn with Pillow)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

PANEL = (560, 300)
MARGIN = 40


class MetricsLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, event: str, **values: Any) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, **values}) + "\n")

    def read(self, event: str) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        rows = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]
        return [r for r in rows if r["event"] == event]


def _curve(
    draw: ImageDraw.ImageDraw,
    x0: int,
    xs: Sequence[float],
    ys: Sequence[float],
    title: str,
) -> None:
    """One panel at horizontal offset box[0]: axes, the title with the last value, the line."""
    w, h = PANEL
    draw.rectangle([x0 + MARGIN, MARGIN, x0 + w - 10, h - MARGIN], outline="black")
    last = f" (last {ys[-1]:.4g})" if ys else ""
    draw.text((x0 + MARGIN, 10), title + last, fill="black")
    if len(xs) < 2:
        return
    lo, hi = min(ys), max(ys)
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (hi - lo) or 1.0
    pts = [
        (
            x0 + MARGIN + (x - min(xs)) / span_x * (w - MARGIN - 10),
            h - MARGIN - (y - lo) / span_y * (h - 2 * MARGIN),
        )
        for x, y in zip(xs, ys, strict=True)
    ]
    draw.line(pts, fill="blue", width=2)
    draw.text((x0 + 2, MARGIN), f"{hi:.3g}", fill="black")
    draw.text((x0 + 2, h - MARGIN - 10), f"{lo:.3g}", fill="black")


def plot(log: MetricsLog, out: Path) -> Path:
    """Training loss per step and validation word accuracy per epoch, side by side."""
    train, val = log.read("train"), log.read("val")
    image = Image.new("RGB", (2 * PANEL[0], PANEL[1]), "white")
    draw = ImageDraw.Draw(image)
    _curve(draw, 0, [r["step"] for r in train], [r["loss"] for r in train], "train loss")
    accs = [r["word_accuracy"] for r in val]
    _curve(draw, PANEL[0], [r["epoch"] for r in val], accs, "val word accuracy")
    image.save(out)
    return out
