"""Floating-point work of an ONNX graph at a given input shape (issue 18's roofline).

Counts the ops that hold nearly all of a PP-OCR model's arithmetic: Conv, ConvTranspose,
MatMul and Gemm, one multiply-add = 2 FLOPs, from the shapes ONNX Runtime's symbolic shape
inference gives every tensor once the input shape is fixed (plain ``onnx.shape_inference``
cannot follow the recogniser's computed Reshape shapes; it is the fallback for graphs the
symbolic one refuses). Bias adds, activations, norms and
softmax are not counted (a few % at most). Needs ``onnx`` (the convert/torch extras).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import suppress
from functools import cache
from pathlib import Path

import onnx
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm")
Shape = tuple[int, ...]


def _dims(value: onnx.ValueInfoProto) -> tuple[int | str, ...]:
    return tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in value.type.tensor_type.shape.dim
    )


def _known(dims: Sequence[int | str]) -> tuple[Shape, int]:
    """Dims with each unresolved (symbolic) one taken as 1, and how many there were. Counted at
    batch 1, the dims inference leaves symbolic are the batch's (the recogniser's last MatMul)."""
    unresolved = sum(1 for d in dims if not isinstance(d, int) or d <= 0)
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in dims), unresolved


def node_flops(node: onnx.NodeProto, shape: Mapping[str, Shape]) -> int:
    """FLOPs (2 per multiply-add) of one counted node; 0 for any other op."""
    op = node.op_type
    if op == "Conv":  # out (N, Co, *S) x weight (Co, Ci/g, *K)
        return 2 * math.prod(shape[node.output[0]]) * math.prod(shape[node.input[1]][1:])
    if op == "ConvTranspose":  # every input element scatters through (Co/g, *K)
        return 2 * math.prod(shape[node.input[0]]) * math.prod(shape[node.input[1]][1:])
    if op == "MatMul":  # (..., M, K) x (..., K, N) -> (..., M, N)
        return 2 * math.prod(shape[node.output[0]]) * shape[node.input[0]][-1]
    if op == "Gemm":
        a = shape[node.input[0]]
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)
        return 2 * math.prod(shape[node.output[0]]) * (a[0] if trans_a else a[-1])
    return 0


class FlopCounter:
    """One model's FLOPs per op type at any input shape (cached per shape)."""

    def __init__(self, model: str | Path | onnx.ModelProto) -> None:
        self._model = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
        self.by_op = cache(self._by_op)

    def flops(self, input_shape: Shape) -> int:
        return sum(self.by_op(tuple(input_shape))[0].values())

    def _by_op(self, input_shape: Shape) -> tuple[dict[str, int], int]:
        """({op type: FLOPs}, counted nodes whose shapes inference left incomplete: their
        symbolic dims are taken as 1 and a node with no shape at all counts 0)."""
        raw = self._shapes(input_shape)
        out, unresolved = dict.fromkeys(COUNTED, 0), 0
        for node in self._model.graph.node:
            if node.op_type not in COUNTED:
                continue
            names = (*node.input[:2], node.output[0])
            dims = {n: raw.get(n, ()) for n in names}
            known = {n: _known(d) for n, d in dims.items()}
            if any(not dims[n] or known[n][1] for n in names):
                unresolved += 1
            with suppress(IndexError):  # a tensor with no shape at all counts 0
                out[node.op_type] += node_flops(node, {n: k[0] for n, k in known.items()})
        return out, unresolved

    def _shapes(self, input_shape: Shape) -> dict[str, tuple[int | str, ...]]:
        """Every tensor's dims (symbolic ones as names) once the input is ``input_shape``."""
        model = onnx.ModelProto()
        model.CopyFrom(self._model)
        dims = model.graph.input[0].type.tensor_type.shape.dim
        if len(dims) != len(input_shape):
            raise ValueError(f"input has rank {len(dims)}, shape {input_shape} given")
        for d, v in zip(dims, input_shape, strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
        try:
            inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
        except Exception:  # it asserts on some graphs (a Concat of shapes on axis 1: the cls)
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        graph = inferred.graph
        shapes: dict[str, tuple[int | str, ...]] = {
            i.name: tuple(i.dims) for i in graph.initializer
        }
        for value in (*graph.input, *graph.value_info, *graph.output):
            shapes[value.name] = _dims(value)
        return shapes
