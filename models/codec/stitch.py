"""Joining the CTC outputs of overlapping windows of one long text line.

A line too wide for the recogniser is read as windows that overlap by a few line heights, with
window offsets a whole number of time steps apart, so that step ``t`` of a window is step
``shift + t`` of the window before it. ``stitch`` splices the two windows' outputs (compact
``TopK`` tables) into one, which is then decoded as a whole (greedy or beam), so the text is
neither squashed nor read twice where the windows overlap.

Where to splice: the characters each window reads in the overlap (runs of the per-step argmax)
are aligned (longest common subsequence of classes, positions within ``tol`` steps); the splice
goes right after the matched character nearest the middle of the overlap, where both windows
have context on both sides: ``left`` up to the end of its run, ``right`` after the end of its
own. Windows that place a character a step or two apart, or disagree on a character, still
splice cleanly. With no character in common, the cut goes at the step nearest the middle where
both windows see blank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from models.codec.charset import BLANK
from models.codec.topk import TopK

Run = tuple[int, int, int]  # (class, first step, last step), inclusive


def runs(labels: npt.NDArray[np.intp]) -> list[Run]:
    """Non-blank runs of a per-step label sequence."""
    if labels.size == 0:
        return []
    starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    ends = np.append(starts[1:], labels.size) - 1
    return [
        (int(labels[s]), int(s), int(e))
        for s, e in zip(starts, ends, strict=True)
        if labels[s] != BLANK
    ]


def _centre(run: Run) -> float:
    return (run[1] + run[2]) / 2


def match_runs(a: list[Run], b: list[Run], tol: float) -> list[tuple[Run, Run]]:
    """Order-preserving pairs of same-class runs at most ``tol`` steps apart.

    Most pairs first, then the smallest total distance (a longest common subsequence).
    """
    n, m = len(a), len(b)
    best = np.zeros((n + 1, m + 1, 2))  # (matches, -distance) for a[i:], b[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            options = [tuple(best[i + 1, j]), tuple(best[i, j + 1])]
            dist = abs(_centre(a[i]) - _centre(b[j]))
            if a[i][0] == b[j][0] and dist <= tol:
                options.append((best[i + 1, j + 1, 0] + 1, best[i + 1, j + 1, 1] - dist))
            best[i, j] = max(options)
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        dist = abs(_centre(a[i]) - _centre(b[j]))
        if (
            a[i][0] == b[j][0]
            and dist <= tol
            and tuple(best[i, j]) == (best[i + 1, j + 1, 0] + 1, best[i + 1, j + 1, 1] - dist)
        ):
            pairs.append((a[i], b[j]))
            i, j = i + 1, j + 1
        elif tuple(best[i, j]) == tuple(best[i + 1, j]):
            i += 1
        else:
            j += 1
    return pairs


def _blank_cut(left_blank: npt.NDArray[np.float32], right_blank: npt.NDArray[np.float32]) -> int:
    """The step nearest the middle where both windows are most sure of a blank."""
    both = np.minimum(left_blank, right_blank)
    steps = np.arange(both.size)
    return int((both - 1e-3 * np.abs(steps - (both.size - 1) / 2)).argmax())


def splice_points(left: TopK, right: TopK, tol: float = 3.0) -> tuple[int, int]:
    """Where to splice two windows given their overlapping steps only (same length):
    keep ``left[:cut_left]`` and ``right[cut_right:]``."""
    pairs = match_runs(runs(left.best()), runs(right.best()), tol)
    if not pairs:
        cut = _blank_cut(left.blank(), right.blank())
        return cut, cut
    middle = (len(left) - 1) / 2
    a, b = min(pairs, key=lambda p: abs(_centre(p[0]) - middle))
    return a[2] + 1, b[2] + 1


def stitch(left: TopK, right: TopK, shift: int, tol: float = 3.0) -> tuple[TopK, int]:
    """Splice two tables; ``right``'s step 0 is ``left``'s step ``shift`` (see module doc).

    Returns the joined table and the step of it where ``right``'s step 0 now lies (``shift``,
    give or take the steps by which the two windows placed the splice character apart).
    """
    overlap = min(len(left) - shift, len(right))
    if overlap < 1:
        return TopK.concat([left, right]), len(left)
    cut_left, cut_right = splice_points(left[shift : shift + overlap], right[:overlap], tol)
    joined = TopK.concat([left[: shift + cut_left], right[cut_right:]])
    return joined, shift + cut_left - cut_right


def join_windows(tables: Sequence[TopK], offsets: Sequence[int], tol: float = 3.0) -> TopK:
    """One table for a line read as windows; window i starts ``offsets[i]`` steps after
    window 0 (increasing, each window overlapping the one before)."""
    joined, placed = tables[0], 0  # placed: where the last window's step 0 lies in ``joined``
    for prev_off, off, table in zip(offsets[:-1], offsets[1:], tables[1:], strict=True):
        joined, placed = stitch(joined, table, placed + off - prev_off, tol)
    return joined
