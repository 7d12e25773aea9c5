"""The one engine interface every runtime implements.

An engine owns one inference session. It is not assumed to be thread-safe: exactly one owner
(the pipeline in the CLI, a batcher worker in the server) calls ``run``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Tensor = npt.NDArray[np.float32]


class Engine(Protocol):
    name: str  # "onnxruntime", "paddle", "torch"

    def run(self, batch: Tensor) -> Tensor:
        """Run one float32 NCHW batch; return the model's first output as float32."""
        ...


class TopKEngine(Engine, Protocol):
    """An engine that can reduce a recogniser's (N, T, C) output to its k best classes per step
    where the output lives (on the GPU), so only N x T x k values reach the host."""

    def run_topk(self, batch: Tensor, k: int) -> tuple[Tensor, npt.NDArray[np.int32], int]:
        """(values (N, T, k), class ids (N, T, k), C): most probable first."""
        ...


def warm_up(engine: Engine, shape: tuple[int, ...], max_rows: int = 1) -> None:
    """Run zero batches of one (C, H, W) input shape before serving. An engine that compiles
    or tunes per batch size too (torch on CUDA: batch buckets, cuDNN autotuning, CUDA graphs)
    says which sizes with ``warm_batch_sizes(max_rows)``; any other engine runs one row."""
    sizes = getattr(engine, "warm_batch_sizes", None)
    for n in sizes(max_rows) if sizes else (1,):
        engine.run(np.zeros((n, *shape), np.float32))
