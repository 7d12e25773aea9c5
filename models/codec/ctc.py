"""CTC decoding: greedy (best path) and prefix beam search, numpy only.

Inputs are per-time-step class *probabilities* (softmax already applied, as PP-OCR exports do),
shape (T, C) for one line or (N, T, C) for a batch; class 0 is the CTC blank (see ``Charset``).

Confidence (the same definition for both decoders)::

    score = mean over the emitted characters of the character's confidence, where a character's
            confidence is the highest probability it reaches over the time steps aligned to it
            in the most probable alignment (Viterbi path) of the decoded text; 0.0 for "".

For greedy decoding the best path *is* that alignment, so the score is the mean of the per-step
max-probabilities, taking each collapsed run of a character at its peak. Beam search decodes the
most probable labelling (summed over alignments) and then scores it by forced alignment, so
whenever both decoders return the same text they return the same score.

Beam search keeps ``beam_width`` prefixes, each with the log-probability of its blank-ending and
non-blank-ending paths, and only extends them with the ``top_k`` most probable classes of each
step (default: ``beam_width``), which keeps an 18k-class dictionary fast. Note that width 1 is
not best-path decoding in general (it ranks prefixes by summed probability), though the two agree
whenever the best path carries more than half of the probability mass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from models.codec.charset import BLANK, Charset

Probs = npt.NDArray[np.float32]
Decoded = tuple[str, float]
LabelsAndPeaks = tuple[list[int], list[float]]

_NEG_INF = -math.inf
_TINY = 1e-30  # floor before taking logs: exact zeros would give -inf and warnings


def softmax(logits: npt.ArrayLike, axis: int = -1) -> Probs:
    """Numerically stable softmax (for models or tests that produce logits)."""
    x = np.asarray(logits, dtype=np.float32)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def _check(probs: Probs, charset: Charset) -> Probs:
    arr = np.asarray(probs, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected (T, C) probabilities, got shape {arr.shape}")
    charset.validate(arr.shape[1])
    return arr


def _runs_confidence(best: npt.NDArray[np.intp], peak: npt.NDArray[np.float32]) -> LabelsAndPeaks:
    """Collapse a path: (emitted class indices, per-character peak probability)."""
    if best.size == 0:
        return [], []
    starts = np.flatnonzero(np.concatenate(([True], best[1:] != best[:-1])))
    labels = best[starts]
    peaks = np.maximum.reduceat(peak, starts)
    keep = labels != BLANK
    return [int(i) for i in labels[keep]], [float(p) for p in peaks[keep]]


def _score(confidences: Sequence[float]) -> float:
    return float(np.mean(confidences)) if len(confidences) else 0.0


def greedy_decode(probs: Probs, charset: Charset) -> Decoded:
    """Best-path decoding: argmax per step, collapse repeats, drop blanks."""
    arr = _check(probs, charset)
    best = arr.argmax(axis=1)
    labels, confs = _runs_confidence(best, arr[np.arange(arr.shape[0]), best])
    return charset.decode_indices(labels), _score(confs)


def greedy_decode_batch(
    probs: Probs, charset: Charset, lengths: Sequence[int] | None = None
) -> list[Decoded]:
    """Greedy decoding of (N, T, C); item i uses only its first ``lengths[i]`` steps."""
    arr = np.asarray(probs, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"expected (N, T, C) probabilities, got shape {arr.shape}")
    charset.validate(arr.shape[2])
    n, t = arr.shape[:2]
    lens = [t] * n if lengths is None else [min(int(v), t) for v in lengths]
    best = arr.argmax(axis=2)
    peak = np.take_along_axis(arr, best[:, :, None], axis=2)[:, :, 0]
    out: list[Decoded] = []
    for i in range(n):
        labels, confs = _runs_confidence(best[i, : lens[i]], peak[i, : lens[i]])
        out.append((charset.decode_indices(labels), _score(confs)))
    return out


def _logadd(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


Beams = dict[tuple[int, ...], list[float]]  # prefix -> [log P(ends in blank), log P(ends in char)]


def _log(p: float) -> float:
    return math.log(p) if p > _TINY else math.log(_TINY)


def _beam_step(beams: Beams, probs: Probs, candidates: Sequence[int]) -> Beams:
    """Extend every prefix by one time step (blank, repeat of its last char, or a candidate)."""
    nxt: Beams = {}
    logp = {c: _log(float(probs[c])) for c in {BLANK, *candidates, *(p[-1] for p in beams if p)}}
    blank_lp = logp[BLANK]
    for prefix, (pb, pnb) in beams.items():
        total = _logadd(pb, pnb)
        entry = nxt.setdefault(prefix, [_NEG_INF, _NEG_INF])
        entry[0] = _logadd(entry[0], total + blank_lp)
        last = prefix[-1] if prefix else -1
        if last >= 0:  # the last char continues its run: the prefix is unchanged
            entry[1] = _logadd(entry[1], pnb + logp[last])
        for c in candidates:
            # a repeated char only starts a new symbol after a blank
            base = pb if c == last else total
            ext = nxt.setdefault((*prefix, c), [_NEG_INF, _NEG_INF])
            ext[1] = _logadd(ext[1], base + logp[c])
    return nxt


def _prune(beams: Beams, width: int) -> Beams:
    ranked = sorted(beams.items(), key=lambda kv: _logadd(kv[1][0], kv[1][1]), reverse=True)
    return dict(ranked[:width])


def beam_search(probs: Probs, beam_width: int = 5, top_k: int | None = None) -> list[int]:
    """Most probable labelling (class indices) found by CTC prefix beam search."""
    if beam_width < 1:
        raise ValueError("beam_width must be >= 1")
    k = min(top_k or beam_width, probs.shape[1])
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k] if k < probs.shape[1] else None
    all_classes = list(range(probs.shape[1]))
    beams: Beams = {(): [0.0, _NEG_INF]}
    for t in range(probs.shape[0]):
        cands = all_classes if top is None else top[t].tolist()
        beams = _prune(_beam_step(beams, probs[t], [c for c in cands if c != BLANK]), beam_width)
    best = max(beams.items(), key=lambda kv: _logadd(kv[1][0], kv[1][1]))
    return list(best[0])


def align_confidences(probs: Probs, labels: Sequence[int]) -> list[float]:
    """Per-character confidence of ``labels`` along their Viterbi (forced) alignment.

    Returns [] when ``labels`` is empty or cannot be aligned in T steps.
    """
    n_lab, n_t = len(labels), probs.shape[0]
    if n_lab == 0 or n_t == 0:
        return []
    ext = np.full(2 * n_lab + 1, BLANK, dtype=np.intp)
    ext[1::2] = labels
    logp = np.log(np.maximum(probs[:, ext].astype(np.float64), _TINY))  # (T, S)
    n_s = ext.size
    skip_ok = np.zeros(n_s, dtype=bool)  # s-2 -> s allowed: a char different from the previous
    skip_ok[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(n_s, _NEG_INF)
    alpha[:2] = logp[0, :2]
    back = np.zeros((n_t, n_s), dtype=np.int8)
    for t in range(1, n_t):
        stay, step = alpha, np.concatenate(([_NEG_INF], alpha[:-1]))
        skip = np.where(skip_ok, np.concatenate(([_NEG_INF, _NEG_INF], alpha[:-2])), _NEG_INF)
        moves = np.stack([stay, step, skip])
        back[t] = moves.argmax(axis=0)
        alpha = moves.max(axis=0) + logp[t]
    end = n_s - 1 if alpha[-1] >= alpha[-2] else n_s - 2
    if alpha[end] == _NEG_INF:
        return []
    return _peaks_along(back, end, probs, ext)


def _peaks_along(
    back: npt.NDArray[np.int8], end: int, probs: Probs, ext: npt.NDArray[np.intp]
) -> list[float]:
    peaks = np.zeros(ext.size)
    state = end
    for t in range(back.shape[0] - 1, -1, -1):
        peaks[state] = max(peaks[state], float(probs[t, ext[state]]))
        state -= int(back[t, state])
    return [float(p) for p in peaks[1::2]]


def beam_decode(
    probs: Probs, charset: Charset, beam_width: int = 5, top_k: int | None = None
) -> Decoded:
    """CTC prefix beam search; score by forced alignment (see module docstring)."""
    arr = _check(probs, charset)
    labels = beam_search(arr, beam_width, top_k)
    return charset.decode_indices(labels), _score(align_confidences(arr, labels))


@dataclass(frozen=True)
class Decoder:
    """Which decoding to use: a frozen value safe to pass with each request's options."""

    kind: Literal["greedy", "beam"] = "greedy"
    beam_width: int = 5

    def __post_init__(self) -> None:
        if self.kind not in ("greedy", "beam"):
            raise ValueError(f"unknown decoder {self.kind!r}; expected 'greedy' or 'beam'")
        if self.beam_width < 1:
            raise ValueError("beam_width must be >= 1")

    def decode(self, probs: Probs, charset: Charset) -> Decoded:
        if self.kind == "greedy":
            return greedy_decode(probs, charset)
        return beam_decode(probs, charset, self.beam_width)

    def decode_batch(
        self, probs: Probs, charset: Charset, lengths: Sequence[int] | None = None
    ) -> list[Decoded]:
        """Decode (N, T, C); item i uses only its first ``lengths[i]`` steps."""
        if self.kind == "greedy":
            return greedy_decode_batch(probs, charset, lengths)
        arr = np.asarray(probs, dtype=np.float32)
        if arr.ndim != 3:
            raise ValueError(f"expected (N, T, C) probabilities, got shape {arr.shape}")
        lens = [arr.shape[1]] * arr.shape[0] if lengths is None else list(lengths)
        return [self.decode(arr[i, : lens[i]], charset) for i in range(arr.shape[0])]
