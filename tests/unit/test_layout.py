from __future__ import annotations

from service.ocr.layout import text_rows
from service.ocr.types import Quad, TextLine


def line(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    return TextLine(Quad.from_array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), text, 0.99)


def test_items_and_prices_share_a_row_with_a_wide_gap() -> None:
    lines = [
        line("Whole milk", 10, 100, 200, 130),
        line("2.49", 400, 102, 470, 131),
        line("TOTAL", 10, 160, 100, 190),
    ]
    assert text_rows(lines) == ["Whole milk   2.49", "TOTAL"]


def test_adjacent_words_join_with_one_space() -> None:
    lines = [line("Tel:", 10, 10, 60, 40), line("555-0142", 70, 11, 200, 41)]
    assert text_rows(lines) == ["Tel: 555-0142"]


def test_next_row_and_out_of_order_boxes_start_new_rows() -> None:
    lines = [
        line("a", 100, 10, 150, 40),
        line("b", 10, 12, 60, 42),  # left of the previous box: not a continuation
        line("c", 10, 30, 60, 60),  # centre too far down
    ]
    assert text_rows(lines) == ["a", "b", "c"]


def test_empty() -> None:
    assert text_rows([]) == []
