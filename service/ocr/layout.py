"""Plain-text layout of a result: lines that share a visual row are joined on one text row.

The pipeline returns lines in reading order (top-to-bottom, each visual row left-to-right), so a
row is a run of consecutive lines whose vertical centres lie within half a line height of the
row's first line. Gaps wider than about two characters become a wider gap in the text.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.ocr.types import TextLine


def _centre_and_height(line: TextLine) -> tuple[float, float, float, float]:
    xs = [x for x, _ in line.quad.points]
    ys = [y for _, y in line.quad.points]
    return (min(ys) + max(ys)) / 2, max(max(ys) - min(ys), 1.0), min(xs), max(xs)


def text_rows(lines: Sequence[TextLine]) -> list[str]:
    rows: list[str] = []
    row_cy = row_h = row_right = 0.0
    for line in lines:
        cy, h, left, right = _centre_and_height(line)
        same_row = bool(rows) and abs(cy - row_cy) <= 0.5 * min(h, row_h) and left >= row_right
        if same_row:
            wide = left - row_right > 1.5 * min(h, row_h)
            rows[-1] += ("   " if wide else " ") + line.text
            row_right = right
        else:
            rows.append(line.text)
            row_cy, row_h, row_right = cy, h, right
    return rows
