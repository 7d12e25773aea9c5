"""Text normalisation, edit distance and character error rate.

`edit_distance` is the Levenshtein distance (unit insert/delete/substitute costs) over Unicode code
points. It uses the bit-parallel algorithm of Myers (1999) in Hyyrö's formulation for the global
distance, with Python integers as arbitrarily wide bit vectors: one pass over the longer string,
a handful of integer operations per character, whatever the length of the shorter one. Strings are
NFC-normalised by `normalize`, not by `edit_distance`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_SPACES = re.compile(r"\s+")


def normalize(text: str | None, *, case_insensitive: bool = False, alnum_only: bool = False) -> str:
    """The comparable form of a transcription.

    Always: NFC, whitespace runs collapsed to one space, ends stripped; None -> "".
    case_insensitive: Unicode case folding (so "Total" == "TOTAL").
    alnum_only: keep only letters and digits (str.isalnum), which also drops all spaces.
    """
    if not text:
        return ""
    out = unicodedata.normalize("NFC", text)
    if case_insensitive:
        out = out.casefold()
    if alnum_only:
        return "".join(ch for ch in out if ch.isalnum())
    return _SPACES.sub(" ", out).strip()


def tokens(text: str) -> list[str]:
    """Whitespace-split words of an (already normalised) text."""
    return text.split()


def _trim_common(a: str, b: str) -> tuple[str, str]:
    """Drop the common prefix and suffix, which never change the distance."""
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    return a[start:end_a], b[start:end_b]


def _myers(pattern: str, text: str) -> int:
    """Bit-parallel Levenshtein distance; `pattern` must be non-empty."""
    m = len(pattern)
    peq: dict[str, int] = {}
    for i, ch in enumerate(pattern):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for ch in text:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return score


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (code points, unit costs)."""
    if a == b:
        return 0
    a, b = _trim_common(a, b)
    if not a or not b:
        return len(a) + len(b)
    if len(a) > len(b):
        a, b = b, a
    return _myers(a, b)


def cer(pred: str, gt: str) -> float:
    """Character error rate of one pair: edits / len(gt); an empty gt gives 0 or 1."""
    edits = edit_distance(pred, gt)
    if not gt:
        return 0.0 if edits == 0 else 1.0
    return edits / len(gt)


def corpus_cer(pairs: Iterable[tuple[str, str]]) -> tuple[float, int, int]:
    """(sum of edits / sum of gt chars, total edits, total gt chars) over (pred, gt) pairs.

    With no gt characters at all the rate is 0 if there were no edits, else 1.
    """
    edits = 0
    chars = 0
    for pred, gt in pairs:
        edits += edit_distance(pred, gt)
        chars += len(gt)
    if chars == 0:
        return (0.0 if edits == 0 else 1.0), edits, chars
    return edits / chars, edits, chars
