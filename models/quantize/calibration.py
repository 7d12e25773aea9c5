"""Calibration data: a seeded draw from a pool that shares no image with the evaluation slices,
and an ONNX Runtime data reader over tensors made on demand."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from models.eval.datasets import Dataset, Sample

T = TypeVar("T")


def sample_keys(dataset: Dataset, sample: Sample) -> frozenset[str]:
    """Identities of the pixels a sample uses: its own file and, for derived sets (angle crops),
    the file it was made from (`source`, relative to the datasets folder)."""
    keys = {str((dataset.root / sample.image).resolve())}
    if sample.source:
        keys.add(str((dataset.root.parent / sample.source).resolve()))
    return frozenset(keys)


def draw_calibration(
    pool: Sequence[T],
    n: int,
    seed: int,
    *,
    keys: Callable[[T], Iterable[str]],
    exclude: frozenset[str] | set[str] = frozenset(),
) -> list[T]:
    """`n` items of `pool` (all when fewer), none sharing a key with `exclude`. The draw depends
    only on the pool's order, `n` and `seed`, never on the call history."""
    allowed = [item for item in pool if not exclude.intersection(keys(item))]
    if n >= len(allowed):
        return allowed
    picked = sorted(random.Random(seed).sample(range(len(allowed)), n))
    return [allowed[i] for i in picked]


def split_count(n: int, parts: int) -> list[int]:
    """`n` shared as evenly as possible among `parts` (earlier parts get the remainder)."""
    if parts <= 0:
        return []
    base, rest = divmod(n, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


class ArrayReader(CalibrationDataReader):
    """Feeds `{input_name: tensor}` for every tensor `make()` yields; `rewind` starts over."""

    def __init__(self, input_name: str, make: Callable[[], Iterator[np.ndarray]]) -> None:
        self.input_name = input_name
        self._make = make
        self._it: Iterator[np.ndarray] | None = None
        self.count = 0

    def get_next(self) -> dict[str, Any] | None:
        if self._it is None:
            self._it = self._make()
        tensor = next(self._it, None)
        if tensor is None:
            return None
        self.count += 1
        return {self.input_name: np.ascontiguousarray(tensor, dtype=np.float32)}

    def rewind(self) -> None:
        self._it = None
        self.count = 0


def model_input_name(path: Path) -> str:
    import onnx

    return str(onnx.load(str(path), load_external_data=False).graph.input[0].name)
