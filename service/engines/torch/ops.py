"""What every ONNX-op implementation in torch shares: its signature, its error, its input helpers.

An op is a function ``(inputs, attributes, opset) -> tensor`` registered under its ONNX name in
an ``OPS`` table (``ops_tensor`` and ``ops_nn`` each hold one; ``graph`` merges
them and runs the graph). This module sits below both families so they share one vocabulary
without importing each other, and so ``graph`` can tell which inputs are parameters.

Only the ops of the four bundled models (plus ``Gather``) are implemented, each with its ONNX
semantics for the opsets 11-18; anything else fails at load time with an error naming the ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

Inputs = Sequence[torch.Tensor | None]
Attrs = dict[str, Any]
OpFn = Callable[[Inputs, Attrs, int], torch.Tensor]


class UnsupportedOnnxError(ValueError):
    """The graph uses an op, an attribute or a mode this converter does not implement."""


# Inputs read as parameters (python ints/floats), never as tensor data: always host tensors.
PARAM_INPUTS: dict[str, frozenset[int]] = {
    "Reshape": frozenset({1}),
    "Slice": frozenset({1, 2, 3, 4}),
    "Squeeze": frozenset({1}),
    "Unsqueeze": frozenset({1}),
    "ReduceMean": frozenset({1}),
    "Resize": frozenset({1, 2, 3}),
    "Clip": frozenset({1, 2}),
}


def registrar(table: dict[str, OpFn]) -> Callable[..., Callable[[OpFn], OpFn]]:
    """A decorator factory: ``@op("Name", ...)`` stores the function in ``table`` per name."""

    def op(*names: str) -> Callable[[OpFn], OpFn]:
        def register(fn: OpFn) -> OpFn:
            for name in names:
                table[name] = fn
            return fn

        return register

    return op


def arg(x: Inputs, i: int) -> torch.Tensor:
    """Input ``i``, which must be present."""
    t = x[i] if i < len(x) else None
    if t is None:
        raise UnsupportedOnnxError(f"missing required input {i}")
    return t


def opt_arg(x: Inputs, i: int) -> torch.Tensor | None:
    """Optional input ``i``: absent, empty name or an empty tensor all mean "not given"."""
    t = x[i] if i < len(x) else None
    return t if t is not None and t.numel() > 0 else None


def as_ints(t: torch.Tensor) -> list[int]:
    """A host tensor of indices/sizes as python ints (flattened)."""
    return [int(v) for v in t.reshape(-1).tolist()]


def norm_axis(axis: int, rank: int) -> int:
    """A possibly negative ONNX axis as a non-negative one."""
    return axis + rank if axis < 0 else axis
