"""A compact CTC output: the k most probable classes of each time step.

A recogniser with an 18k-symbol dictionary returns 18k probabilities per time step (75 KB per
step, ~9 MB for one 960-px row). Decoding needs far less: the best class of each step, the blank,
and a handful of runners-up for beam search. ``TopK`` keeps exactly that (k=16: 128 bytes per
step), so per-row outputs can be held, stitched and passed between requests and a batcher
cheaply, and the engine's big output array is freed right after each batch.

``dense`` expands a TopK table back to a small dense (T, U) table over the U classes it mentions
(the blank first), each step's unlisted classes sharing its remaining probability mass evenly,
together with the class ids, for ``Charset.subset`` and the ordinary decoders. Greedy decoding of
the dense form equals greedy decoding of the full table; beam search differs only through
classes that never reach a step's top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.codec.charset import BLANK

DEFAULT_K = 16
CERTAIN = np.float32(1.0 - 1e-4)


def _with_fillers(best: npt.NDArray[np.intp], k: int) -> npt.NDArray[np.intp]:
    """Rows of k distinct class ids: each row's best class, then k-1 of the classes 0..k-1
    (one that equals the best is swapped for class k)."""
    fillers = np.broadcast_to(np.arange(k), (best.shape[0], k)).copy()
    fillers[fillers == best[:, None]] = k
    return np.concatenate([best[:, None], fillers[:, : k - 1]], axis=1)


@dataclass(frozen=True)
class TopK:
    indices: npt.NDArray[np.int32]  # (T, k) class ids, most probable first
    values: npt.NDArray[np.float32]  # (T, k) their probabilities
    num_classes: int

    @classmethod
    def from_probs(cls, probs: npt.NDArray[np.float32], k: int = DEFAULT_K) -> TopK:
        """From a (T, C) probability table.

        A full top-k selection (``argpartition`` over 18k classes) is the costly part, and most
        CTC steps are near-certain (p(best) >= ``CERTAIN``): those keep their best class plus
        k-1 fixed filler classes with their true probabilities (together < 1 - CERTAIN), and
        only the uncertain steps pay for the real selection. Greedy decoding is unchanged; beam
        search can differ only through classes holding less than 1e-4 of a certain step.
        """
        arr = np.asarray(probs, dtype=np.float32)
        n_t, n_c = arr.shape
        k = min(k, n_c)
        if k == n_c:
            return cls._sorted(arr, np.tile(np.arange(n_c), (n_t, 1)), n_c)
        best = arr.argmax(axis=1)
        certain = arr[np.arange(n_t), best] >= CERTAIN
        ids = np.empty((n_t, k), dtype=np.intp)
        ids[certain] = _with_fillers(best[certain], k)
        unsure = ~certain
        if unsure.any():
            ids[unsure] = np.argpartition(-arr[unsure], k - 1, axis=1)[:, :k]
        return cls._sorted(arr, ids, n_c)

    @classmethod
    def _sorted(cls, arr: npt.NDArray[np.float32], ids: npt.NDArray[np.intp], n_c: int) -> TopK:
        vals = np.take_along_axis(arr, ids, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        return cls(
            np.take_along_axis(ids, order, axis=1).astype(np.int32),
            np.take_along_axis(vals, order, axis=1),
            n_c,
        )

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, steps: slice) -> TopK:
        return TopK(self.indices[steps], self.values[steps], self.num_classes)

    @staticmethod
    def concat(parts: Sequence[TopK]) -> TopK:
        return TopK(
            np.concatenate([p.indices for p in parts]),
            np.concatenate([p.values for p in parts]),
            parts[0].num_classes,
        )

    def best(self) -> npt.NDArray[np.intp]:
        """The most probable class of each step (greedy path)."""
        return self.indices[:, 0].astype(np.intp)

    def _rest(self) -> npt.NDArray[np.float32]:
        """Per-step probability of each class outside the top k."""
        unlisted = max(self.num_classes - self.indices.shape[1], 1)
        return np.clip(1.0 - self.values.sum(axis=1), 0.0, None) / np.float32(unlisted)

    def blank(self) -> npt.NDArray[np.float32]:
        """P(blank) of each step (its share of the rest when not in the top k)."""
        hit = self.indices == BLANK
        return np.where(hit.any(axis=1), (self.values * hit).sum(axis=1), self._rest())

    def dense(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
        """(T, U) probabilities over the U classes listed anywhere, and their ids (blank first)."""
        ids = np.union1d(self.indices.ravel(), [BLANK]).astype(np.intp)  # sorted: blank (0) first
        table = np.repeat(self._rest()[:, None], ids.size, axis=1).astype(np.float32)
        cols = np.searchsorted(ids, self.indices)
        np.put_along_axis(table, cols, self.values, axis=1)
        return table, ids
