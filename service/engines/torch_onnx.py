"""ONNX graph -> torch ``nn.Module``: a small interpreter for the PP-OCR op set.

``OnnxModule`` runs the graph's nodes in order with torch ops. It exists because the lent GPU
machines have PyTorch + CUDA but no onnxruntime-gpu, and onnx2torch needs torchvision.

How values live:

- Nodes whose inputs are all constants (initializers, ``Constant`` nodes) are evaluated once at
  load time ("folded"); the ~300 ``Constant`` nodes of a paddle2onnx export disappear.
- Constants read as tensor data by a node (weights, biases, the 2.0 of a ``Pow``) are buffers:
  ``.to(device, dtype)`` moves them and casts the floating ones (integer buffers stay int64).
- Shape arithmetic stays on the host: ``Shape`` returns a CPU int64 tensor, nodes that only
  consume such values run on the CPU, and constants read as parameters (a ``Reshape`` target, the
  starts of a ``Slice``, ``Resize`` scales, ``Clip`` bounds) are kept as CPU tensors that no
  ``.to`` touches. So computing a shape never waits on the GPU (which also keeps CUDA graph
  capture legal), and scales are never rounded to fp16.

Only the ops of the four bundled models (plus ``Gather``) are implemented, each with its ONNX
semantics for the opsets 11-18; anything else fails at load time with an error naming the ops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

Inputs = Sequence[torch.Tensor | None]
Attrs = dict[str, Any]
OpFn = Callable[[Inputs, Attrs, int], torch.Tensor]


class UnsupportedOnnxError(ValueError):
    """The graph uses an op, an attribute or a mode this converter does not implement."""


OPS: dict[str, OpFn] = {}
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
_DTYPES = {
    1: torch.float32,
    2: torch.uint8,
    3: torch.int8,
    5: torch.int16,
    6: torch.int32,
    7: torch.int64,
    9: torch.bool,
    10: torch.float16,
    11: torch.float64,
    16: torch.bfloat16,
}


def _op(*names: str) -> Callable[[OpFn], OpFn]:
    def register(fn: OpFn) -> OpFn:
        for name in names:
            OPS[name] = fn
        return fn

    return register


def _t(x: Inputs, i: int) -> torch.Tensor:
    """Input ``i``, which must be present."""
    t = x[i] if i < len(x) else None
    if t is None:
        raise UnsupportedOnnxError(f"missing required input {i}")
    return t


def _opt(x: Inputs, i: int) -> torch.Tensor | None:
    """Optional input ``i``: absent, empty name or an empty tensor all mean "not given"."""
    t = x[i] if i < len(x) else None
    return t if t is not None and t.numel() > 0 else None


def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


# ---------------------------------------------------------------- elementwise


@_op("Identity")
def _identity(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return _t(x, 0)


@_op("Relu")
def _relu(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return F.relu(_t(x, 0))


@_op("Sigmoid")
def _sigmoid(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.sigmoid(_t(x, 0))


@_op("Erf")
def _erf(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.erf(_t(x, 0))


@_op("Sqrt")
def _sqrt(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.sqrt(_t(x, 0))


@_op("HardSigmoid")
def _hard_sigmoid(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.clamp(_t(x, 0) * a.get("alpha", 0.2) + a.get("beta", 0.5), 0.0, 1.0)


@_op("Clip")
def _clip(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    if opset < 11:
        lo, hi = a.get("min"), a.get("max")
    else:
        lo_t, hi_t = _opt(x, 1), _opt(x, 2)
        lo = None if lo_t is None else lo_t.item()
        hi = None if hi_t is None else hi_t.item()
    return _t(x, 0) if lo is None and hi is None else torch.clamp(_t(x, 0), lo, hi)


@_op("Add")
def _add(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return _t(x, 0) + _t(x, 1)


@_op("Sub")
def _sub(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return _t(x, 0) - _t(x, 1)


@_op("Mul")
def _mul(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return _t(x, 0) * _t(x, 1)


@_op("Div")
def _div(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    num, den = _t(x, 0), _t(x, 1)
    if num.is_floating_point():
        return num / den
    return torch.div(num, den, rounding_mode="trunc")  # ONNX integer division truncates


@_op("Pow")
def _pow(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    base = _t(x, 0)
    return torch.pow(base, _t(x, 1)).to(base.dtype)  # ONNX: the result has the base's type


@_op("Cast")
def _cast(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, to = _t(x, 0), a["to"]
    if to not in _DTYPES:
        raise UnsupportedOnnxError(f"Cast to ONNX type {to}")
    target = _DTYPES[to]
    if target.is_floating_point and data.is_floating_point():
        return data  # float -> float: the engine chooses the precision (fp32/fp16/bf16)
    return data.to(target)


# ---------------------------------------------------------------- conv and pooling


def _pads(a: Attrs, spatial: Sequence[int], kernel: Sequence[int]) -> tuple[list[int], list[int]]:
    """(begin, end) padding per spatial axis, auto_pad resolved for this input size."""
    nd = len(spatial)
    strides = a.get("strides", [1] * nd)
    dilations = a.get("dilations", [1] * nd)
    auto_pad = a.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        pads = a.get("pads", [0] * 2 * nd)
        return list(pads[:nd]), list(pads[nd:])
    if auto_pad == "VALID":
        return [0] * nd, [0] * nd
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise UnsupportedOnnxError(f"auto_pad={auto_pad}")
    begin, end = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return begin, end


def _torch_pad(begin: Sequence[int], end: Sequence[int]) -> list[int]:
    """ONNX (x1_begin, x2_begin, ...), (x1_end, ...) -> F.pad's last-axis-first pairs."""
    out: list[int] = []
    for b, e in zip(reversed(begin), reversed(end), strict=True):
        out += [b, e]
    return out


@_op("Conv")
def _conv(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, weight, bias = _t(x, 0), _t(x, 1), _opt(x, 2)
    nd = data.dim() - 2
    begin, end = _pads(a, data.shape[2:], a.get("kernel_shape", weight.shape[2:]))
    if begin != end:
        data, begin = F.pad(data, _torch_pad(begin, end)), [0] * nd
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    strides, dilations = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
    return conv(data, weight, bias, strides, begin, dilations, a.get("group", 1))


@_op("ConvTranspose")
def _conv_transpose(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, weight, bias = _t(x, 0), _t(x, 1), _opt(x, 2)
    nd = data.dim() - 2
    if "output_shape" in a or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise UnsupportedOnnxError("ConvTranspose with output_shape or SAME auto_pad")
    pads = a.get("pads", [0] * 2 * nd) if a.get("auto_pad", "NOTSET") == "NOTSET" else [0] * 2 * nd
    begin, end = list(pads[:nd]), list(pads[nd:])
    conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    strides, dilations = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
    extra = a.get("output_padding", [0] * nd)
    group = a.get("group", 1)
    if begin == end:
        return conv_t(data, weight, bias, strides, begin, extra, group, dilations)
    y = conv_t(data, weight, bias, strides, 0, extra, group, dilations)
    crop = [slice(None), slice(None)]
    crop += [slice(b, size - e) for b, e, size in zip(begin, end, y.shape[2:], strict=True)]
    return y[tuple(crop)]


@_op("BatchNormalization")
def _batch_norm(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, scale, bias, mean, var = (_t(x, i) for i in range(5))
    return F.batch_norm(data, mean, var, scale, bias, False, 0.0, a.get("epsilon", 1e-5))


def _pool_args(a: Attrs, data: torch.Tensor) -> tuple[list[int], list[int], list[int], list[int]]:
    kernel = list(a["kernel_shape"])
    nd = len(kernel)
    begin, end = _pads(a, data.shape[2:], kernel)
    return kernel, list(a.get("strides", [1] * nd)), begin, end


@_op("MaxPool")
def _max_pool(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    kernel, strides, begin, end = _pool_args(a, data)
    nd = len(kernel)
    dilations = a.get("dilations", [1] * nd)
    if begin != end or any(2 * p > k for p, k in zip(begin, kernel, strict=True)):
        data, begin = F.pad(data, _torch_pad(begin, end), value=-math.inf), [0] * nd
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    return pool(data, kernel, strides, begin, dilations, bool(a.get("ceil_mode", 0)))


@_op("AveragePool")
def _avg_pool(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    kernel, strides, begin, end = _pool_args(a, data)
    nd = len(kernel)
    include_pad = bool(a.get("count_include_pad", 0))
    if begin != end:
        if not include_pad:
            raise UnsupportedOnnxError("AveragePool with asymmetric pads and count_include_pad=0")
        data, begin = F.pad(data, _torch_pad(begin, end)), [0] * nd
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
    return pool(data, kernel, strides, begin, bool(a.get("ceil_mode", 0)), include_pad)


@_op("GlobalAveragePool")
def _global_avg_pool(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    return data.mean(dim=tuple(range(2, data.dim())), keepdim=True)


# ---------------------------------------------------------------- linear algebra, reductions


@_op("MatMul")
def _matmul(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.matmul(_t(x, 0), _t(x, 1))


@_op("Softmax")
def _softmax(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    axis = _axis(a.get("axis", 1 if opset < 13 else -1), data.dim())
    if opset >= 13 or axis == data.dim() - 1:
        return torch.softmax(data, dim=axis)
    # before opset 13: the input is coerced to 2-D at `axis`; softmax runs over all of [axis:]
    flat = data.reshape(*data.shape[:axis], -1)
    return torch.softmax(flat, dim=-1).reshape(data.shape)


@_op("ReduceMean")
def _reduce_mean(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    if opset < 18:
        axes = a.get("axes")
    else:
        given = _opt(x, 1)
        axes = None if given is None else _ints(given)
        if axes is None and a.get("noop_with_empty_axes", 0):
            return data
    dims = tuple(range(data.dim())) if not axes else tuple(axes)
    return data.mean(dim=dims, keepdim=bool(a.get("keepdims", 1)))


# ---------------------------------------------------------------- shapes and indexing


@_op("Shape")
def _shape(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    dims = list(_t(x, 0).shape)[a.get("start", 0) : a.get("end")]
    return torch.tensor(dims, dtype=torch.int64)  # on the host, always


@_op("Reshape")
def _reshape(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, shape = _t(x, 0), _ints(_t(x, 1))
    if not a.get("allowzero", 0):  # 0 copies the input's dim (unless allowzero)
        shape = [data.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return data.reshape(shape)


@_op("Transpose")
def _transpose(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    return data.permute(a.get("perm", list(range(data.dim()))[::-1]))


@_op("Concat")
def _concat(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.cat([t for t in x if t is not None], dim=a["axis"])


def _axes_of(x: Inputs, a: Attrs, opset: int) -> list[int] | None:
    """Squeeze/Unsqueeze axes: an attribute before opset 13, an input since."""
    if opset < 13:
        return a.get("axes")
    given = _opt(x, 1)
    return None if given is None else _ints(given)


@_op("Squeeze")
def _squeeze(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, axes = _t(x, 0), _axes_of(x, a, opset)
    if not axes:
        return data.squeeze()
    return data.squeeze(tuple(_axis(ax, data.dim()) for ax in axes))


@_op("Unsqueeze")
def _unsqueeze(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, axes = _t(x, 0), _axes_of(x, a, opset)
    if not axes:
        raise UnsupportedOnnxError("Unsqueeze without axes")
    rank = data.dim() + len(axes)
    for ax in sorted(_axis(ax, rank) for ax in axes):
        data = data.unsqueeze(ax)
    return data


@_op("Slice")
def _slice(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    if opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = _ints(_t(x, 1)), _ints(_t(x, 2))
        axes_t, steps_t = _opt(x, 3), _opt(x, 4)
        axes = None if axes_t is None else _ints(axes_t)
        steps = None if steps_t is None else _ints(steps_t)
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    index: list[slice] = [slice(None)] * data.dim()
    flip: list[int] = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        ax, dim = _axis(axis, data.dim()), data.shape[_axis(axis, data.dim())]
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        if step > 0:  # clamped as ONNX says: huge ends (INT64_MAX) mean "to the end"
            index[ax] = slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
        elif step < 0:  # negative steps: slice the flipped axis forwards
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
            index[ax] = slice(dim - 1 - start, dim - 1 - end, -step)
            flip.append(ax)
        else:
            raise UnsupportedOnnxError("Slice step 0")
    if flip:
        data = data.flip(flip)
    return data[tuple(index)]


@_op("Gather")
def _gather(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, idx = _t(x, 0), _t(x, 1).to(torch.int64)
    axis = _axis(a.get("axis", 0), data.dim())
    idx = torch.where(idx < 0, idx + data.shape[axis], idx)
    picked = data.index_select(axis, idx.reshape(-1))
    return picked.reshape((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]))


# ---------------------------------------------------------------- Resize


def _nearest_index(
    out_len: int, in_len: int, scale: float, mode: str, rounding: str, device: torch.device
) -> torch.Tensor:
    """Source index per output index of one axis, computed in float32 like ONNX Runtime."""
    j = torch.arange(out_len, device=device, dtype=torch.float32)
    if mode in ("half_pixel", "pytorch_half_pixel"):
        src = (j + 0.5) / scale - 0.5
        if mode == "pytorch_half_pixel" and out_len == 1:
            src = torch.zeros_like(j)
    elif mode == "align_corners":
        src = j * ((in_len - 1) / (out_len - 1)) if out_len > 1 else torch.zeros_like(j)
    elif mode == "asymmetric":
        src = j / scale
    else:
        raise UnsupportedOnnxError(f"Resize coordinate_transformation_mode={mode}")
    rounded = {
        "round_prefer_floor": lambda v: torch.ceil(v - 0.5),
        "round_prefer_ceil": lambda v: torch.floor(v + 0.5),
        "floor": torch.floor,
        "ceil": torch.ceil,
    }
    if rounding not in rounded:
        raise UnsupportedOnnxError(f"Resize nearest_mode={rounding}")
    return rounded[rounding](src).clamp(0, in_len - 1).to(torch.int64)


def _resize_nearest(
    data: torch.Tensor, scales: list[float], out: list[int], mode: str, rounding: str
) -> torch.Tensor:
    integer = all(
        s == int(s) and o == d * int(s) for s, o, d in zip(scales, out, data.shape[2:], strict=True)
    )
    if integer and mode == "asymmetric" and rounding == "floor":
        # the common upsampling case, exactly: output j reads input floor(j / k) = repeat k times
        for ax, k in enumerate((int(s) for s in scales), start=2):
            if k != 1:
                expanded = data.unsqueeze(ax + 1).expand(
                    *data.shape[: ax + 1], k, *data.shape[ax + 1 :]
                )
                data = expanded.flatten(ax, ax + 1)
        return data
    for ax, (scale, out_len) in enumerate(zip(scales, out, strict=True), start=2):
        idx = _nearest_index(out_len, data.shape[ax], scale, mode, rounding, data.device)
        data = data.index_select(ax, idx)
    return data


@_op("Resize")
def _resize(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = _t(x, 0)
    if opset < 11:
        raise UnsupportedOnnxError("Resize before opset 11")
    if a.get("antialias", 0) or "axes" in a:
        raise UnsupportedOnnxError("Resize with antialias or axes")
    scales_t, sizes_t = _opt(x, 2), _opt(x, 3)
    if sizes_t is not None:
        out = _ints(sizes_t)
        scales = [o / d for o, d in zip(out, data.shape, strict=True)]
    elif scales_t is not None:
        scales = [float(s) for s in scales_t.tolist()]
        out = [math.floor(d * s) for d, s in zip(data.shape, scales, strict=True)]
    else:
        raise UnsupportedOnnxError("Resize needs scales or sizes")
    if out[:2] != list(data.shape[:2]):
        raise UnsupportedOnnxError("Resize of the batch or channel axis")
    mode = a.get("mode", "nearest")
    coords = a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        rounding = a.get("nearest_mode", "round_prefer_floor")
        return _resize_nearest(data, scales[2:], out[2:], coords, rounding)
    if mode != "linear" or data.dim() - 2 not in (1, 2, 3):
        raise UnsupportedOnnxError(f"Resize mode={mode} on rank {data.dim()}")
    interp = ("linear", "bilinear", "trilinear")[data.dim() - 3]
    if coords == "align_corners":
        return F.interpolate(data, size=out[2:], mode=interp, align_corners=True)
    pytorch_ok = coords == "pytorch_half_pixel" and min(out[2:]) > 1
    if coords != "half_pixel" and not pytorch_ok:
        raise UnsupportedOnnxError(f"Resize linear with coordinate_transformation_mode={coords}")
    if sizes_t is not None:
        return F.interpolate(data, size=out[2:], mode=interp, align_corners=False)
    return F.interpolate(
        data,
        scale_factor=scales[2:],
        mode=interp,
        align_corners=False,
        recompute_scale_factor=False,
    )


@_op("Constant")
def _constant(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    if "value" in a:
        value: torch.Tensor = a["value"]
        return value
    for key, dtype in (("value_float", torch.float32), ("value_floats", torch.float32)):
        if key in a:
            return torch.tensor(a[key], dtype=dtype)
    for key in ("value_int", "value_ints"):
        if key in a:
            return torch.tensor(a[key], dtype=torch.int64)
    raise UnsupportedOnnxError(f"Constant with attributes {sorted(a)}")


# ---------------------------------------------------------------- the module


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

    kind: str  # "none" | "env" | "env_to_device" | "host" | "buffer"
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

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
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
                    if name not in buffers:
                        buffers[name] = f"c{len(buffers)}"
                        self.register_buffer(buffers[name], consts[name])
                    refs.append(_Ref("buffer", buffers[name]))
            release = tuple(sorted({n for n in runtime if last_read[n] == i and n not in keep}))
            attrs = _attrs(node)
            steps.append(
                _Step(node.op_type, OPS[node.op_type], attrs, tuple(refs), node.output[0], release)
            )
        for name in self.output_names:
            if name in consts:
                self._host[name] = consts[name]
        return steps

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
        if ref.kind == "host":
            return self._host[ref.key]
        if ref.kind == "env_to_device":  # shape arithmetic used as data (rare)
            value = env[ref.key]
            assert like is not None  # a runtime value exists only if the graph has inputs
            dtype = like.dtype if value.is_floating_point() else value.dtype
            return value.to(like.device, dtype)
        return None


def load_onnx(path: Path | str) -> OnnxModule:
    """Read an ONNX file (with its external data, if any) and build the module (on the CPU)."""
    return OnnxModule(onnx.load(str(path)))
