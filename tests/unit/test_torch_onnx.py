"""The ONNX -> torch converter, op by op, against ONNX Runtime on tiny graphs built here.

Each case is one node (a few are small chains); its tensor inputs are either runtime graph
inputs ("x") or initializers ("c", i.e. constants the converter folds or keeps as buffers / host
values). No model files needed. The engine's pure rules (device, dtype, batch chunks) are here too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# as service.engines.torch.engine does, but this module loads torch first: idle OpenMP
# threads sleep instead of spinning (spinning made torch ~5x slower on this shared machine)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from service.engines.torch.engine import (
    TorchEngine,
    TorchOptions,
    plan_chunks,
    resolve_device,
    resolve_dtype,
)
from service.engines.torch.graph import OnnxModule, UnsupportedOnnxError, load_onnx
from service.ocr.errors import ModelError

RNG = np.random.default_rng(7)
I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min
REPO = Path(__file__).resolve().parents[2]


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


Arg = tuple[str, np.ndarray] | None  # ("x", runtime input) | ("c", initializer) | None: omitted


@dataclass
class Case:
    id: str
    op: str
    args: list[Arg]
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 13


def x(a: np.ndarray) -> Arg:
    return ("x", a)


def c(a: np.ndarray) -> Arg:
    return ("c", a)


def one_node_model(case: Case) -> onnx.ModelProto:
    names, inputs, inits = [], [], []
    for i, arg in enumerate(case.args):
        if arg is None:
            names.append("")
            continue
        kind, value = arg
        name = f"in{i}"
        names.append(name)
        if kind == "x":
            dtype = helper.np_dtype_to_tensor_dtype(value.dtype)
            inputs.append(helper.make_tensor_value_info(name, dtype, list(value.shape)))
        else:
            inits.append(numpy_helper.from_array(value, name))
    node = helper.make_node(case.op, names, ["y"], **case.attrs)
    out = helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)
    graph = helper.make_graph([node], case.id, inputs, [out], initializer=inits)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", case.opset)], ir_version=8
    )


def run_both(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    # ORT may reject a graph output of UNDEFINED type: let shape inference fill it in first
    model = onnx.shape_inference.infer_shapes(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, feeds)[0]
    module = OnnxModule(model).eval()
    with torch.inference_mode():
        got = module(*(torch.from_numpy(v) for v in feeds.values()))[0].numpy()
    return np.asarray(expected), got


def assert_same(expected: np.ndarray, got: np.ndarray, atol: float = 1e-5) -> None:
    assert got.shape == expected.shape
    if np.issubdtype(expected.dtype, np.integer):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


W3 = f32(4, 3, 3, 3)
IMG = f32(2, 3, 9, 11)
CASES = [
    # convolution
    Case("conv-3x3-pad1", "Conv", [x(IMG), c(W3), c(f32(4))], {"pads": [1, 1, 1, 1]}),
    Case("conv-stride2-nobias", "Conv", [x(IMG), c(W3)], {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    Case("conv-asym-pads", "Conv", [x(IMG), c(W3), c(f32(4))], {"pads": [0, 1, 2, 1]}),
    Case("conv-dilation2", "Conv", [x(IMG), c(W3)], {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    Case("conv-depthwise", "Conv", [x(IMG), c(f32(6, 1, 5, 5))], {"group": 3, "pads": [2] * 4}),
    Case("conv-same-upper-k2", "Conv", [x(IMG), c(f32(4, 3, 2, 2))], {"auto_pad": "SAME_UPPER"}),
    Case(
        "conv-same-lower-s2",
        "Conv",
        [x(IMG), c(f32(4, 3, 2, 2))],
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
    ),
    Case("conv-valid", "Conv", [x(IMG), c(W3)], {"auto_pad": "VALID"}),
    Case("conv-1d", "Conv", [x(f32(2, 3, 10)), c(f32(5, 3, 3))], {"pads": [1, 1]}),
    Case(
        "convT-k2-s2", "ConvTranspose", [x(IMG), c(f32(3, 2, 2, 2)), c(f32(2))], {"strides": [2, 2]}
    ),
    Case(
        "convT-pads-outpad",
        "ConvTranspose",
        [x(IMG), c(f32(3, 2, 3, 3))],
        {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
    ),
    Case(
        "convT-asym-pads",
        "ConvTranspose",
        [x(IMG), c(f32(3, 4, 3, 3))],
        {"strides": [2, 2], "pads": [0, 1, 1, 2]},
    ),
    Case(
        "convT-group",
        "ConvTranspose",
        [x(IMG), c(f32(3, 1, 2, 2))],
        {"group": 3, "strides": [2, 2]},
    ),
    Case(
        "batchnorm",
        "BatchNormalization",
        [x(IMG), c(f32(3)), c(f32(3)), c(f32(3)), c(np.abs(f32(3)) + 0.1)],
        {"epsilon": 1e-3},
    ),
    # activations and elementwise
    Case("relu", "Relu", [x(IMG)]),
    Case("sigmoid", "Sigmoid", [x(IMG)]),
    Case("erf", "Erf", [x(IMG)]),
    Case("sqrt", "Sqrt", [x(np.abs(IMG))]),
    Case("identity", "Identity", [x(IMG)]),
    Case("hardsigmoid-default", "HardSigmoid", [x(IMG * 4)]),
    Case("hardsigmoid-1/6", "HardSigmoid", [x(IMG * 4)], {"alpha": 1 / 6, "beta": 0.5}),
    Case(
        "clip-11-min-max",
        "Clip",
        [x(IMG), c(np.array(0, np.float32)), c(np.array(0.5, np.float32))],
        opset=11,
    ),
    Case("clip-11-max-only", "Clip", [x(IMG), None, c(np.array(0.2, np.float32))], opset=11),
    Case("clip-6-attrs", "Clip", [x(IMG)], {"min": -0.1, "max": 0.3}, opset=6),
    Case("add-broadcast", "Add", [x(IMG), c(f32(3, 1, 1))]),
    Case("sub-two-inputs", "Sub", [x(IMG), x(f32(1, 3, 9, 1))]),
    Case("mul-scalar", "Mul", [x(IMG), c(np.array(3.5, np.float32))]),
    Case("div", "Div", [x(IMG), c(np.abs(f32(11)) + 0.5)]),
    Case("div-int-truncates", "Div", [x(i64(7, -7, 9, -9)), c(i64(2, 2, -4, 4))]),
    Case("pow-const-2", "Pow", [x(IMG), c(np.array(2.0, np.float32))]),
    Case("pow-tensor", "Pow", [x(np.abs(IMG) + 0.1), x(f32(11))]),
    Case("cast-float-to-int", "Cast", [x(IMG * 5)], {"to": TensorProto.INT64}),
    Case("cast-int-to-float", "Cast", [x(i64(1, -2, 3))], {"to": TensorProto.FLOAT}),
    Case("cast-int-to-int32", "Cast", [x(i64(1, -2, 3))], {"to": TensorProto.INT32}),
    # pooling
    Case("maxpool-2x2-s2", "MaxPool", [x(IMG)], {"kernel_shape": [2, 2], "strides": [2, 2]}),
    Case(
        "maxpool-same-upper",
        "MaxPool",
        [x(IMG)],
        {"kernel_shape": [2, 2], "strides": [1, 1], "auto_pad": "SAME_UPPER"},
    ),
    Case(
        "maxpool-pad1-k3-s2",
        "MaxPool",
        [x(IMG)],
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    ),
    Case(
        "maxpool-ceil",
        "MaxPool",
        [x(IMG)],
        {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
    ),
    Case("maxpool-asym-pads", "MaxPool", [x(IMG)], {"kernel_shape": [3, 3], "pads": [0, 1, 2, 0]}),
    Case("avgpool-model-3x2", "AveragePool", [x(IMG)], {"kernel_shape": [3, 2], "strides": [3, 2]}),
    Case(
        "avgpool-pad-exclude",
        "AveragePool",
        [x(IMG)],
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    ),
    Case(
        "avgpool-pad-include",
        "AveragePool",
        [x(IMG)],
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1},
    ),
    Case(
        "avgpool-asym-include",
        "AveragePool",
        [x(IMG)],
        {"kernel_shape": [2, 2], "pads": [0, 0, 1, 1], "count_include_pad": 1},
    ),
    Case("global-avgpool", "GlobalAveragePool", [x(IMG)]),
    # linear algebra, reductions
    Case("matmul-3d-2d", "MatMul", [x(f32(2, 5, 7)), c(f32(7, 4))]),
    Case("matmul-4d", "MatMul", [x(f32(2, 3, 5, 7)), x(f32(2, 3, 7, 6))]),
    Case("softmax-11-axis1-coerced", "Softmax", [x(f32(2, 3, 4))], {"axis": 1}, opset=11),
    Case("softmax-11-last", "Softmax", [x(f32(2, 3, 4))], {"axis": -1}, opset=11),
    Case("softmax-13-axis1", "Softmax", [x(f32(2, 3, 4))], {"axis": 1}),
    Case("reducemean-11-last", "ReduceMean", [x(f32(2, 3, 4))], {"axes": [-1]}, opset=11),
    Case("reducemean-13-keep0", "ReduceMean", [x(IMG)], {"axes": [2, 3], "keepdims": 0}, opset=13),
    Case("reducemean-18-input", "ReduceMean", [x(IMG), c(i64(1, -1))], opset=18),
    Case("reducemean-18-all", "ReduceMean", [x(IMG)], {"keepdims": 0}, opset=18),
    Case("reducemean-18-noop", "ReduceMean", [x(IMG)], {"noop_with_empty_axes": 1}, opset=18),
    # shapes and indexing
    Case("shape", "Shape", [x(IMG)]),
    Case("shape-15-start-end", "Shape", [x(IMG)], {"start": 1, "end": -1}, opset=15),
    Case("reshape-0-and-minus1", "Reshape", [x(IMG), c(i64(0, -1, 11))]),
    Case("reshape-copy-dims", "Reshape", [x(IMG), c(i64(0, 0, -1))]),
    Case("transpose-default", "Transpose", [x(IMG)]),
    Case("transpose-perm", "Transpose", [x(IMG)], {"perm": [0, 2, 3, 1]}),
    Case("concat-last", "Concat", [x(IMG), x(f32(2, 3, 9, 2))], {"axis": -1}),
    Case("concat-ints", "Concat", [x(i64(1, 2)), c(i64(-1)), c(i64(5, 6))], {"axis": 0}),
    Case("squeeze-11-attr", "Squeeze", [x(f32(2, 1, 4, 1))], {"axes": [1]}, opset=11),
    Case("squeeze-13-input", "Squeeze", [x(f32(2, 1, 4, 1)), c(i64(-1))]),
    Case("squeeze-all", "Squeeze", [x(f32(2, 1, 4, 1))]),
    Case("unsqueeze-11-attr", "Unsqueeze", [x(f32(2, 4))], {"axes": [0, -1]}, opset=11),
    Case("unsqueeze-13-input", "Unsqueeze", [x(f32(2, 4)), c(i64(3, 1))]),
    Case("slice-basic", "Slice", [x(IMG), c(i64(1)), c(i64(7)), c(i64(2))]),
    Case("slice-negative", "Slice", [x(IMG), c(i64(-4)), c(i64(-1)), c(i64(-1))]),
    Case(
        "slice-huge-end-step2", "Slice", [x(IMG), c(i64(1)), c(i64(I64_MAX)), c(i64(3)), c(i64(2))]
    ),
    Case(
        "slice-reverse",
        "Slice",
        [x(IMG), c(i64(-1, 6)), c(i64(I64_MIN, 1)), c(i64(3, 2)), c(i64(-1, -2))],
    ),
    Case("slice-no-axes", "Slice", [x(f32(5, 6)), c(i64(1, 2)), c(i64(4, 100))]),
    Case("slice-past-end-empty", "Slice", [x(f32(5, 6)), c(i64(7)), c(i64(9)), c(i64(0))]),
    Case("slice-9-attrs", "Slice", [x(IMG)], {"starts": [1], "ends": [-1], "axes": [2]}, opset=9),
    Case("gather-scalar-axis0", "Gather", [x(IMG), c(np.array(1, np.int64))]),
    Case(
        "gather-2d-negative-axis1",
        "Gather",
        [x(IMG), c(i64(0, -1, 2, 1).reshape(2, 2))],
        {"axis": 1},
    ),
    Case("gather-ints", "Gather", [x(i64(4, 5, 6)), c(i64(-1))]),
    # Resize (opset 11: X, roi, scales, sizes)
    *[
        Case(
            f"resize-nearest-{ctm}-{rnd}-x{s}",
            "Resize",
            [x(IMG), c(f32(0)), c(np.array([1, 1, s, s], np.float32))],
            {"mode": "nearest", "coordinate_transformation_mode": ctm, "nearest_mode": rnd},
            opset=11,
        )
        for ctm, rnd, s in [
            ("asymmetric", "floor", 2.0),  # the det models' upsampling
            ("asymmetric", "floor", 3.0),
            ("asymmetric", "floor", 1.5),
            ("half_pixel", "round_prefer_floor", 1.5),
            ("half_pixel", "round_prefer_ceil", 2.0),
            ("pytorch_half_pixel", "floor", 0.5),
            ("align_corners", "round_prefer_floor", 1.7),
            ("asymmetric", "ceil", 2.5),
        ]
    ],
    Case(
        "resize-nearest-sizes",
        "Resize",
        [x(IMG), c(f32(0)), c(f32(0)), c(i64(2, 3, 20, 7))],
        {"mode": "nearest"},
        opset=13,
    ),
    Case(
        "resize-linear-half-pixel",
        "Resize",
        [x(IMG), c(f32(0)), c(np.array([1, 1, 2, 2], np.float32))],
        {"mode": "linear"},
        opset=11,
    ),
    Case(
        "resize-linear-half-pixel-down",
        "Resize",
        [x(IMG), c(f32(0)), c(np.array([1, 1, 0.5, 0.7], np.float32))],
        {"mode": "linear"},
        opset=11,
    ),
    Case(
        "resize-linear-align-corners-sizes",
        "Resize",
        [x(IMG), None, None, c(i64(2, 3, 5, 17))],
        {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
        opset=13,
    ),
    Case(
        "resize-linear-pytorch-half-pixel",
        "Resize",
        [x(IMG), c(f32(0)), c(np.array([1, 1, 1.5, 2], np.float32))],
        {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
        opset=11,
    ),
    Case(
        "constant-tensor",
        "Constant",
        [],
        {"value": numpy_helper.from_array(f32(2, 3), "v")},
    ),
    Case("constant-floats", "Constant", [], {"value_floats": [1.0, 2.5]}),
    Case("constant-int", "Constant", [], {"value_int": 4}),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_op_matches_onnxruntime(case: Case) -> None:
    model = one_node_model(case)
    feeds = {f"in{i}": arg[1] for i, arg in enumerate(case.args) if arg and arg[0] == "x"}
    expected, got = run_both(model, feeds)
    assert_same(expected, got)


def chain_model() -> onnx.ModelProto:
    """A paddle2onnx-style dynamic shape chain: flatten H*W with a shape computed at run time,
    a shape value used as data (Cast -> Mul), then reshape back; the batch and sizes vary."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Cast", ["shape"], ["shape32"], to=TensorProto.INT32),
        helper.make_node("Slice", ["shape32", "zero", "two"], ["nc32"]),
        helper.make_node("Cast", ["nc32"], ["nc"], to=TensorProto.INT64),
        helper.make_node("Concat", ["nc", "minus1"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
        helper.make_node("Gather", ["shape", "three"], ["w"], axis=0),
        helper.make_node("Cast", ["w"], ["w_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["flat", "w_f"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "shape"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(i64(0), "zero"),
        numpy_helper.from_array(i64(2), "two"),
        numpy_helper.from_array(i64(-1), "minus1"),
        numpy_helper.from_array(np.array(3, np.int64), "three"),
    ]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (3, 3, 7, 2), (2, 3, 1, 9)])
def test_dynamic_shape_chain_follows_each_input(shape: tuple[int, ...]) -> None:
    expected, got = run_both(chain_model(), {"x": f32(*shape)})
    assert_same(expected, got)


def test_one_module_serves_many_shapes() -> None:
    module = OnnxModule(chain_model()).eval()
    with torch.inference_mode():
        for shape in [(1, 3, 4, 5), (4, 3, 6, 6)]:
            assert tuple(module(torch.from_numpy(f32(*shape)))[0].shape) == shape


def test_to_dtype_casts_float_buffers_and_keeps_shape_values() -> None:
    conv = Case("conv", "Conv", [x(IMG), c(W3), c(f32(4))], {"pads": [1, 1, 1, 1]})
    nodes_model = one_node_model(conv)
    module = OnnxModule(nodes_model).to(torch.bfloat16)
    assert {b.dtype for b in module.buffers()} == {torch.bfloat16}
    chain = OnnxModule(chain_model()).to(torch.bfloat16)
    host = chain._host.values()
    assert host and all(t.dtype == torch.int64 and t.device.type == "cpu" for t in host)
    with torch.inference_mode():
        y = chain(torch.from_numpy(IMG).to(torch.bfloat16))[0]
    assert y.dtype == torch.bfloat16
    expected, _ = run_both(chain_model(), {"x": IMG})
    np.testing.assert_allclose(y.float().numpy(), expected, rtol=2e-2, atol=2e-2)


def test_unsupported_ops_are_named_at_load_time() -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("LpNormalization", ["a"], ["b"]),
        helper.make_node("Inverse", ["b"], ["y"], domain="com.microsoft"),
    ]
    graph = helper.make_graph(
        nodes,
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedOnnxError, match=r"LpNormalization, com\.microsoft:Inverse"):
        OnnxModule(model)


@pytest.mark.parametrize(
    "case",
    [
        Case(
            "cubic",
            "Resize",
            [x(IMG), c(f32(0)), c(np.array([1, 1, 2, 2], np.float32))],
            {"mode": "cubic"},
            opset=11,
        ),
        Case("maxpool-indices", "MaxPool", [x(IMG)], {"kernel_shape": [2, 2]}),
    ],
    ids=lambda case: case.id,
)
def test_unsupported_modes_raise(case: Case) -> None:
    model = one_node_model(case)
    if case.op == "MaxPool":  # ask for the Indices output too
        model.graph.node[0].output.append("idx")
        model.graph.output.append(helper.make_tensor_value_info("idx", TensorProto.INT64, None))
        with pytest.raises(UnsupportedOnnxError, match="MaxPool output"):
            OnnxModule(model)
        return
    module = OnnxModule(model)
    with pytest.raises(UnsupportedOnnxError, match="mode=cubic"):
        module(torch.from_numpy(IMG))


# ---------------------------------------------------------------- the engine's pure rules


@pytest.mark.parametrize(
    ("asked", "cuda", "device", "logs"),
    [
        ("cpu", True, "cpu", False),
        ("cpu", False, "cpu", False),
        ("auto", True, "cuda:1", False),
        ("auto", False, "cpu", True),
        ("cuda", True, "cuda:1", False),
        ("cuda", False, "cpu", True),  # asked for CUDA, none here: warn and serve on the CPU
    ],
)
def test_resolve_device(asked: str, cuda: bool, device: str, logs: bool) -> None:
    got, note = resolve_device(asked, cuda, device_id=1)
    assert got == device
    assert bool(note) == logs


def test_resolve_device_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="auto, cuda or cpu"):
        resolve_device("tpu", True, 0)


@pytest.mark.parametrize(
    ("asked", "device_type", "dtype"),
    [
        ("auto", "cuda", "float16"),
        ("auto", "cpu", "float32"),
        ("float32", "cuda", "float32"),
        ("bfloat16", "cuda", "bfloat16"),
        ("float16", "cpu", "float16"),
    ],
)
def test_resolve_dtype(asked: str, device_type: str, dtype: str) -> None:
    assert resolve_dtype(asked, device_type) == dtype


B = (1, 2, 4, 8)


@pytest.mark.parametrize(
    ("n", "pad", "chunks"),
    [
        (1, True, [(0, 1, 1)]),
        (3, True, [(0, 3, 4)]),
        (8, True, [(0, 8, 8)]),
        (11, True, [(0, 8, 8), (8, 11, 4)]),
        (17, True, [(0, 8, 8), (8, 16, 8), (16, 17, 1)]),
        (0, True, [(0, 0, 1)]),  # an empty batch runs one zero row (for the output's shape)
        (3, False, [(0, 3, 3)]),
        (11, False, [(0, 8, 8), (8, 11, 3)]),
        (0, False, [(0, 0, 1)]),
    ],
)
def test_plan_chunks(n: int, pad: bool, chunks: list[tuple[int, int, int]]) -> None:
    assert plan_chunks(n, B, pad) == chunks


def test_engine_on_cpu_splits_big_batches_and_keeps_metadata(tmp_path: Path) -> None:
    case = Case("conv", "Conv", [x(f32(1, 3, 8, 8)), c(W3), c(f32(4))], {"pads": [1, 1, 1, 1]})
    model = one_node_model(case)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    helper.set_model_props(model, {"character": "a\nb"})
    path = tmp_path / "conv.onnx"
    onnx.save(onnx.shape_inference.infer_shapes(model), str(path))
    engine = TorchEngine(path, TorchOptions(device="cpu", batch_buckets=(1, 2, 4)))
    assert engine.metadata == {"character": "a\nb"}
    batch = f32(7, 3, 8, 8)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"in0": batch})[0]
    got = engine.run(batch)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert engine.run(f32(0, 3, 8, 8)).shape == (0, 4, 8, 8)
    assert load_onnx(path).metadata == {"character": "a\nb"}


def test_engine_reports_a_broken_file_as_model_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        TorchEngine(path, TorchOptions(device="cpu"))


def test_the_service_import_path_stays_free_of_torch() -> None:
    code = (
        "import sys, service.runtime.loader, service.runtime.runtime, service.api.app; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
