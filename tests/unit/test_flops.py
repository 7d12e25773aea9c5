"""The FLOP counter of the roofline benchmark (models/eval/flops.py) on tiny graphs built here."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.eval.flops import FlopCounter  # noqa: E402


def _graph(nodes: list, inits: list, width: str | int = "W") -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _init(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def test_conv_then_matmul_at_the_given_shape() -> None:
    # Conv 3->4, 3x3, pad 1: out (N, 4, 8, W), 3*3*3 MACs per output element.
    conv = helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    # (N, 4, 8, W) x (W, 5): 8 * 4 rows of W MACs per output column.
    mm = helper.make_node("MatMul", ["c", "m"], ["y"])
    model = _graph([conv, mm], [_init("w", (4, 3, 3, 3)), _init("m", (16, 5))])
    counter = FlopCounter(model)
    conv_flops = 2 * (1 * 4 * 8 * 16) * (3 * 3 * 3)
    mm_flops = 2 * (1 * 4 * 8 * 5) * 16
    by_op, unresolved = counter.by_op((1, 3, 8, 16))
    assert (by_op["Conv"], by_op["MatMul"], unresolved) == (conv_flops, mm_flops, 0)
    assert counter.flops((2, 3, 8, 16)) == 2 * (conv_flops + mm_flops)


def test_grouped_conv_and_transpose() -> None:
    dw = helper.make_node(
        "Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=3
    )
    up = helper.make_node("ConvTranspose", ["c", "t"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    model = _graph([dw, up], [_init("w", (3, 1, 3, 3)), _init("t", (3, 2, 2, 2))], width=4)
    by_op, _ = FlopCounter(model).by_op((1, 3, 8, 4))
    assert by_op["Conv"] == 2 * (3 * 8 * 4) * 9  # depthwise: 9 MACs per output element
    assert by_op["ConvTranspose"] == 2 * (3 * 8 * 4) * (2 * 2 * 2)  # each input -> Co x 2x2
