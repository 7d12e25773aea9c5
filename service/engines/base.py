"""The one engine interface every runtime implements.

An engine owns one inference session. It is not assumed to be thread-safe: exactly one owner
(a direct call in the CLI, a batcher worker in the server) calls ``run``.

Optional capabilities are declared, never probed: every engine has ``metadata``, ``precision``,
``shape_specialised``, ``warm_batch_sizes``, ``top_k_on_device`` and ``release_memory``
(``EngineBase`` gives the plain defaults), and ``run_topk`` is only called when
``top_k_on_device`` says so. What an engine *could* run on this host, before one is opened, is
the class's ``host_precisions()`` (what ``OCR_ENGINE=auto`` chooses among).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

import numpy as np
import numpy.typing as npt

Tensor = npt.NDArray[np.float32]
TopKArrays = tuple[Tensor, npt.NDArray[np.int32], int]  # values, class ids (N, T, k), classes


class Engine(Protocol):
    name: str  # "onnxruntime", "openvino", "paddle", "torch"
    metadata: Mapping[str, str]  # the model's custom metadata ({} when the format has none)
    precision: str  # arithmetic it runs in: "f32", "bf16", "f16"... (part of the cache key)
    top_k_on_device: bool  # run_topk selects the k best classes where the output lives
    # The first run of a new input shape costs extra (kernel search, compilation, CUDA graphs),
    # so warm-up runs every bucket shape; False: one run per stage allocates what is needed.
    shape_specialised: bool

    def run(self, batch: Tensor) -> Tensor:
        """Run one float32 NCHW batch; return the model's first output as float32."""
        ...

    def run_topk(self, batch: Tensor, k: int) -> TopKArrays:
        """For a recogniser's (N, T, C) output: (values (N, T, k), class ids (N, T, k), C),
        most probable first. Only called when ``top_k_on_device`` is true."""
        ...

    def warm_batch_sizes(self, max_rows: int) -> Sequence[int]:
        """Batch sizes to run at warm-up: those the engine compiles or tunes for separately."""
        ...

    def release_memory(self) -> None:
        """Give memory kept after a peak (an arena's free blocks) back to the OS. Called by the
        session's owner, between runs, when the server goes idle."""
        ...


class EngineBase:
    """Defaults for the optional capabilities: no metadata, top-k on the host, one warm row."""

    name: str = "engine"
    metadata: Mapping[str, str] = MappingProxyType({})
    precision: str = "f32"
    top_k_on_device: bool = False
    shape_specialised: bool = True  # the safe assumption: warm every shape

    @classmethod
    def host_precisions(cls) -> tuple[str, ...]:
        """The precisions this engine runs natively on this host's CPU, fastest last; () when
        its runtime is not installed. fp32 everywhere by default."""
        return ("f32",)

    def run(self, batch: Tensor) -> Tensor:
        raise NotImplementedError

    def run_topk(self, batch: Tensor, k: int) -> TopKArrays:
        raise NotImplementedError(f"{self.name} selects top-k on the host (top_k_on_device)")

    def warm_batch_sizes(self, max_rows: int) -> Sequence[int]:
        return (1,)

    def release_memory(self) -> None:
        return None  # nothing kept beyond what the runtime frees itself


def warm_up(engine: Engine, shape: tuple[int, ...], max_rows: int = 1) -> None:
    """Run zero batches of one (C, H, W) input shape before serving, once per batch size the
    engine asks for (torch on CUDA: batch buckets, cuDNN autotuning, CUDA graphs)."""
    for n in engine.warm_batch_sizes(max_rows):
        engine.run(np.zeros((n, *shape), np.float32))
