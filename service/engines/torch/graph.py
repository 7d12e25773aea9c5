"""ONNX graph -> torch ``nn.Module``: loads the file, folds constants, runs the nodes in order.

``OnnxModule`` runs the graph's nodes in order with torch ops. It exists because the lent GPU
machines have PyTorch + CUDA but no onnxruntime-gpu, and onnx2torch needs torchvision.

How values live:

- Nodes whose inputs are all constants (initializers, ``Constant`` nodes) are evaluated once at
  load time ("folded"); the ~300 ``Constant`` nodes of a paddle2onnx export disappear.
- Constants read as tensor data by a node (weights, biases, the 2.0 of a ``Pow``) are buffers:
  ``.to(device, dtype)`` moves them and casts the floating ones (integer buffers stay int64).
  With ``trainable=True`` (training: ``models.training.finetune``) the floating ones are
  ``nn.Parameter``s instead, except scalars and BatchNormalization's running statistics
  (``_learnable``); ``initializer_keys`` maps
  each ONNX initializer to its attribute so trained values can be written back into the graph.
- Shape arithmetic stays on the host: ``Shape`` returns a CPU int64 tensor, nodes that only
  consume such values run on the CPU, and constants read as parameters (a ``Reshape`` target, the
  starts of a ``Slice``, ``Resize`` scales, ``Clip`` bounds) are kept as CPU tensors that no
  ``.to`` touches. So computing a shape never waits on the GPU (which also keeps CUDA graph
  capture legal), and scales are never rounded to fp16.

The op implementations live in ``ops_tensor`` and ``ops_nn`` (their shared contract
in ``ops``); this module merges their tables into ``OPS`` and rejects, at load time, a graph
that uses an op none of them implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from service.engines.torch import ops_nn, ops_tensor
from service.engines.torch.ops import PARAM_INPUTS, Attrs, OpFn, UnsupportedOnnxError

__all__ = ["OPS", "OnnxModule", "UnsupportedOnnxError", "load_onnx"]

OPS: dict[str, OpFn] = {**ops_tensor.OPS, **ops_nn.OPS}


def _to_torch(proto: onnx.TensorProto) -> torch.Tensor:
    return torch.from_numpy(numpy_helper.to_array(proto).copy())


def _attrs(node: onnx.NodeProto) -> Attrs:
    out: Attrs = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = _to_torch(value)
        out[attr.name] = value
    return out


@dataclass(frozen=True)
class _Ref:
    """Where a node finds one input at run time."""

    kind: str  # "none" | "env" | "env_to_device" | "host" | "buffer" | "param"
    key: str = ""


@dataclass(frozen=True)
class _Step:
    op: str
    fn: OpFn
    attrs: Attrs
    refs: tuple[_Ref, ...]
    output: str
    release: tuple[str, ...]  # runtime values whose last reader this step is


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise UnsupportedOnnxError("the model imports no default-domain opset")


def _check_supported(graph: onnx.GraphProto) -> None:
    unknown = sorted(
        {
            n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"
            for n in graph.node
        }
        - set(OPS)
    )
    if unknown:
        raise UnsupportedOnnxError(
            f"unsupported ONNX op(s): {', '.join(unknown)} (supported: {', '.join(sorted(OPS))})"
        )
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    for node in graph.node:
        extra = [o for o in node.output[1:] if o in used]
        if extra:
            raise UnsupportedOnnxError(f"{node.op_type} output(s) {extra} are used")


class OnnxModule(nn.Module):
    """Executes an ONNX graph with torch ops. ``forward`` returns every graph output."""

    def __init__(self, model: onnx.ModelProto, trainable: bool = False) -> None:
        super().__init__()
        self.trainable = trainable
        self.initializer_keys: dict[str, str] = {}  # ONNX initializer -> buffer/parameter name
        graph = model.graph
        _check_supported(graph)
        self.opset = _opset(model)
        self.metadata: dict[str, str] = {p.key: p.value for p in model.metadata_props}
        consts = {init.name: _to_torch(init) for init in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in consts]
        self.output_names = [o.name for o in graph.output]
        nodes = [n for n in graph.node if not self._fold(n, consts)]
        self._host: dict[str, torch.Tensor] = {}
        self._steps = self._plan(nodes, consts)

    def _fold(self, node: onnx.NodeProto, consts: dict[str, torch.Tensor]) -> bool:
        """Evaluate a node whose inputs are all constants, once, now."""
        if not all(name == "" or name in consts for name in node.input):
            return False
        args = [consts[name] if name else None for name in node.input]
        consts[node.output[0]] = OPS[node.op_type](args, _attrs(node), self.opset)
        return True

    def _plan(self, nodes: list[onnx.NodeProto], consts: dict[str, torch.Tensor]) -> list[_Step]:
        host_values: set[str] = set()  # runtime values computed on the host (shape arithmetic)
        last_read = {name: i for i, n in enumerate(nodes) for name in n.input if name}
        keep = set(self.output_names)
        buffers: dict[str, str] = {}
        steps = []
        for i, node in enumerate(nodes):
            runtime = [name for name in node.input if name and name not in consts]
            on_host = node.op_type == "Shape" or all(name in host_values for name in runtime)
            if on_host:
                host_values.add(node.output[0])
            refs = []
            for pos, name in enumerate(node.input):
                param = pos in PARAM_INPUTS.get(node.op_type, ())
                if not name:
                    refs.append(_Ref("none"))
                elif name not in consts:
                    moved = name in host_values and not on_host and not param
                    refs.append(_Ref("env_to_device" if moved else "env", name))
                elif on_host or param:
                    self._host[name] = consts[name]
                    refs.append(_Ref("host", name))
                else:
                    refs.append(self._constant(node, pos, name, consts[name], buffers))
            release = tuple(sorted({n for n in runtime if last_read[n] == i and n not in keep}))
            attrs = _attrs(node)
            steps.append(
                _Step(node.op_type, OPS[node.op_type], attrs, tuple(refs), node.output[0], release)
            )
        for name in self.output_names:
            if name in consts:
                self._host[name] = consts[name]
        return steps

    def _constant(
        self, node: onnx.NodeProto, pos: int, name: str, value: torch.Tensor, keys: dict[str, str]
    ) -> _Ref:
        """A constant read as tensor data: a buffer, or a parameter when training."""
        learn = self.trainable and _learnable(node, pos, value)
        if name not in keys:
            keys[name] = f"c{len(keys)}"
            self.initializer_keys[name] = keys[name]
            if learn:
                self.register_parameter(keys[name], nn.Parameter(value))
            else:
                self.register_buffer(keys[name], value)
        return _Ref("param" if keys[name] in self._parameters else "buffer", keys[name])

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        env = dict(zip(self.input_names, inputs, strict=True))
        like = inputs[0] if inputs else None  # the device and float precision of this run
        for step in self._steps:
            args = [self._fetch(ref, env, like) for ref in step.refs]
            env[step.output] = step.fn(args, step.attrs, self.opset)
            for name in step.release:
                del env[name]
        return tuple(env[n] if n in env else self._host[n] for n in self.output_names)

    def _fetch(
        self, ref: _Ref, env: dict[str, torch.Tensor], like: torch.Tensor | None
    ) -> torch.Tensor | None:
        if ref.kind == "env":
            return env[ref.key]
        if ref.kind == "buffer":
            return self._buffers[ref.key]
        if ref.kind == "param":
            return self._parameters[ref.key]
        if ref.kind == "host":
            return self._host[ref.key]
        if ref.kind == "env_to_device":  # shape arithmetic used as data (rare)
            value = env[ref.key]
            assert like is not None  # a runtime value exists only if the graph has inputs
            dtype = like.dtype if value.is_floating_point() else value.dtype
            return value.to(like.device, dtype)
        return None


def _learnable(node: onnx.NodeProto, pos: int, value: torch.Tensor) -> bool:
    """Weights train; scalars (a Pow's exponent, an epsilon: their gradients are meaningless,
    NaN for a negative base) and BatchNormalization's running statistics do not."""
    running_stat = node.op_type == "BatchNormalization" and pos in (3, 4)
    return value.is_floating_point() and value.numel() > 1 and not running_stat


def load_onnx(path: Path | str) -> OnnxModule:
    """Read an ONNX file (with its external data, if any) and build the module (on the CPU)."""
    return OnnxModule(onnx.load(str(path)))
