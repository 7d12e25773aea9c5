"""Word spans from the CTC best path."""

from __future__ import annotations

import numpy as np
import pytest

from models.codec.charset import Charset
from models.codec.words import WordSpan, char_spans, word_spans

CS = Charset(list("abc"), use_space=True)  # classes: 0 blank, 1 a, 2 b, 3 c, 4 space


def path(labels: list[int]) -> np.ndarray:
    probs = np.full((len(labels), 5), 0.01, np.float32)
    probs[np.arange(len(labels)), labels] = 0.96
    return probs


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([], []),
        ([0, 0, 0], []),
        ([1, 1, 0, 2], [WordSpan("ab", 0, 4)]),
        ([0, 1, 0, 4, 4, 0, 2, 3, 3, 0], [WordSpan("a", 1, 2), WordSpan("bc", 6, 9)]),
        ([4, 1, 4], [WordSpan("a", 1, 2)]),
        ([1, 0, 1, 4, 0, 0, 4, 3], [WordSpan("aa", 0, 3), WordSpan("c", 7, 8)]),
    ],
    ids=["empty", "blanks", "one-word", "two-words", "spaces-around", "repeat-and-double-space"],
)
def test_word_spans(labels: list[int], expected: list[WordSpan]) -> None:
    assert word_spans(path(labels), CS) == expected


def test_char_spans_cover_each_emission() -> None:
    assert char_spans(path([1, 1, 0, 1, 2]), CS) == [("a", 0, 2), ("a", 3, 4), ("b", 4, 5)]
