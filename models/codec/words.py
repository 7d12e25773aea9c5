"""Where each word of a line is: word spans from the CTC best path.

CTC emits a character at the time steps where the best path enters a new non-blank label; the
recogniser maps step ``s`` to input column ``s * step_px``. A word is a run of emitted
characters between whitespace symbols; its span runs from its first character's first step to
its last character's last step. The spans come from the greedy path whatever decoder produced
the line text, so each word carries its own text (equal to the line's words for greedy decoding).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.codec.charset import BLANK, Charset


@dataclass(frozen=True)
class WordSpan:
    text: str
    start: int  # first time step
    end: int  # one past the last time step


def char_spans(probs: npt.NDArray[np.float32], charset: Charset) -> list[tuple[str, int, int]]:
    """(symbol, first step, end step) of each character on the best path of (T, C) ``probs``."""
    best = np.asarray(probs).argmax(axis=1)
    if best.size == 0:
        return []
    change = np.flatnonzero(np.concatenate(([True], best[1:] != best[:-1], [True])))
    spans = []
    for start, end in itertools.pairwise(change.tolist()):
        label = int(best[start])
        if label != BLANK:
            spans.append((charset.decode_indices([label]), start, end))
    return spans


def word_spans(probs: npt.NDArray[np.float32], charset: Charset) -> list[WordSpan]:
    words: list[WordSpan] = []
    text, start, end = "", 0, 0
    for symbol, s, e in char_spans(probs, charset):
        if symbol.isspace():
            if text:
                words.append(WordSpan(text, start, end))
            text = ""
            continue
        if not text:
            start = s
        text, end = text + symbol, e
    if text:
        words.append(WordSpan(text, start, end))
    return words
