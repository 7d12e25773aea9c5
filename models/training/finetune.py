"""The served recogniser as a trainable torch module, and its trained weights written back.

``service.engines.torch.graph.OnnxModule`` already runs an ONNX graph with torch ops; built with
``trainable=True`` its floating initializers are parameters. Training needs logits, so the graph
is cut before its final Softmax (CTC loss applies its own log-softmax). ``write_back`` puts the
trained values into the *original* graph — same nodes, same metadata (dictionary included) —
so the exported file is structurally the served one.
"""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from torch import nn

from service.engines.torch.graph import OnnxModule


class NotARecogniserError(ValueError):
    """The graph does not end in the Softmax over classes that a CTC recogniser has."""


def logits_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose output is the input of its final Softmax."""
    out = copy.deepcopy(model)
    graph = out.graph
    last = next((n for n in graph.node if n.output[0] == graph.output[0].name), None)
    if last is None or last.op_type != "Softmax":
        raise NotARecogniserError("the recogniser's output is not produced by a Softmax")
    graph.node.remove(last)
    del graph.output[:]
    graph.output.add(name=last.input[0])
    return out


class OnnxRecogniser(nn.Module):
    """A served ONNX recogniser whose weights train; ``forward`` gives (N, T, C) logits."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        self.source = model
        self.graph = OnnxModule(logits_graph(model), trainable=True)

    @classmethod
    def load(cls, path: Path) -> OnnxRecogniser:
        return cls(onnx.load(str(path)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)[0]

    def write_back(self) -> onnx.ModelProto:
        """The source graph with every trained initializer replaced by its current value."""
        out = copy.deepcopy(self.source)
        params = dict(self.graph.named_parameters())
        for init in out.graph.initializer:
            key = self.graph.initializer_keys.get(init.name)
            if key in params:
                value = params[key].detach().cpu().numpy().astype(numpy_helper.to_array(init).dtype)
                init.CopyFrom(numpy_helper.from_array(value, init.name))
        return out
