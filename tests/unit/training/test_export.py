"""Fine-tuning in the served graph and the export parity check, on a small recogniser-shaped
ONNX graph built here (conv over 8-px columns -> per-step classes -> Softmax)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from models.training.export import ParityError, export_finetuned, parity
from models.training.finetune import NotARecogniserError, OnnxRecogniser
from models.training.loop import ctc_loss

CLASSES, HEIGHT = 6, 8
RNG = np.random.default_rng(5)


def _init(name: str, shape: tuple[int, ...], scale: float = 0.5) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.normal(0, scale, shape).astype(np.float32), name)


def recogniser_graph(softmax: bool = True) -> onnx.ModelProto:
    nodes = [
        helper.make_node(
            "Conv", ["x", "w", "b"], ["f"], kernel_shape=[HEIGHT, 8], strides=[HEIGHT, 8]
        ),
        helper.make_node("Squeeze", ["f", "axes"], ["s"]),
        helper.make_node("Transpose", ["s"], ["t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["t", "m"], ["mm"]),
        helper.make_node("Pow", ["mm", "two"], ["sq"]),  # a scalar constant: never trained
        helper.make_node("Sub", ["mm", "sq"], ["logits"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=2))
    inits = [
        _init("w", (4, 3, HEIGHT, 8), 0.05), _init("b", (4,)), _init("m", (4, CLASSES), 0.3),
        numpy_helper.from_array(np.array([2], np.int64), "axes"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "rec",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, HEIGHT, "w"])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.metadata_props.add(key="character", value="a\nb\nc\nd")
    return model


def _train_once(rec: OnnxRecogniser) -> None:
    x = torch.from_numpy(RNG.normal(0, 1, (2, 3, HEIGHT, 32)).astype(np.float32))
    loss = ctc_loss(rec(x), torch.tensor([1, 2, 3]), torch.tensor([2, 1]))
    loss.backward()
    with torch.no_grad():
        for p in rec.parameters():
            p -= 0.05 * p.grad  # type: ignore[operator]


def _inputs() -> list[np.ndarray]:
    return [RNG.normal(0, 1, (1, 3, HEIGHT, w)).astype(np.float32) for w in (16, 40, 64)]


def test_only_weights_train_and_write_back_keeps_the_graph(tmp_path: Path) -> None:
    source = recogniser_graph()
    rec = OnnxRecogniser(source)
    assert sorted(p.numel() for p in rec.parameters()) == [4, 4 * CLASSES, 4 * 3 * HEIGHT * 8]
    _train_once(rec)
    path = export_finetuned(rec, tmp_path / "rec.onnx")
    written = onnx.load(str(path))
    assert [n.op_type for n in written.graph.node] == [n.op_type for n in source.graph.node]
    assert written.metadata_props[0].value == "a\nb\nc\nd"
    pairs = zip(written.graph.initializer, source.graph.initializer, strict=True)
    same = [np.array_equal(numpy_helper.to_array(i), numpy_helper.to_array(j)) for i, j in pairs]
    changed = {i.name for i, s in zip(written.graph.initializer, same, strict=True) if not s}
    assert changed == {"w", "b", "m"}
    assert parity(rec, path, _inputs(), 1e-5) < 1e-5


def test_parity_fails_on_a_perturbed_export(tmp_path: Path) -> None:
    rec = OnnxRecogniser(recogniser_graph())
    _train_once(rec)
    written = rec.write_back()
    m = next(i for i in written.graph.initializer if i.name == "m")
    values = numpy_helper.to_array(m).copy()
    values[:, 1] *= -1  # one class's weights flipped: what a wrong write-back would do
    m.CopyFrom(numpy_helper.from_array(values, "m"))
    onnx.save(written, str(tmp_path / "bad.onnx"))
    with pytest.raises(ParityError):
        parity(rec, tmp_path / "bad.onnx", _inputs(), 1e-3)


def test_a_graph_without_a_final_softmax_is_refused() -> None:
    with pytest.raises(NotARecogniserError):
        OnnxRecogniser(recogniser_graph(softmax=False))
