"""Tensor-level ONNX ops in torch: elementwise math, casts, shapes, indexing, constants.

These are the ops that move, reshape or combine values without a learned kernel; many of them
run on the host on shape arithmetic (see ``graph``). Kept apart from the network-layer ops
(``ops_nn``) so each family stays readable; ``graph`` merges the two ``OPS`` tables.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from service.engines.torch.ops import (
    Attrs,
    Inputs,
    OpFn,
    UnsupportedOnnxError,
    arg,
    as_ints,
    norm_axis,
    opt_arg,
    registrar,
)

OPS: dict[str, OpFn] = {}
_op = registrar(OPS)

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


# ---------------------------------------------------------------- elementwise


@_op("Identity")
def _identity(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return arg(x, 0)


@_op("Relu")
def _relu(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return F.relu(arg(x, 0))


@_op("Sigmoid")
def _sigmoid(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.sigmoid(arg(x, 0))


@_op("Erf")
def _erf(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.erf(arg(x, 0))


@_op("Sqrt")
def _sqrt(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.sqrt(arg(x, 0))


@_op("HardSigmoid")
def _hard_sigmoid(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.clamp(arg(x, 0) * a.get("alpha", 0.2) + a.get("beta", 0.5), 0.0, 1.0)


@_op("Clip")
def _clip(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    if opset < 11:
        lo, hi = a.get("min"), a.get("max")
    else:
        lo_t, hi_t = opt_arg(x, 1), opt_arg(x, 2)
        lo = None if lo_t is None else lo_t.item()
        hi = None if hi_t is None else hi_t.item()
    return arg(x, 0) if lo is None and hi is None else torch.clamp(arg(x, 0), lo, hi)


@_op("Add")
def _add(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return arg(x, 0) + arg(x, 1)


@_op("Sub")
def _sub(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return arg(x, 0) - arg(x, 1)


@_op("Mul")
def _mul(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return arg(x, 0) * arg(x, 1)


@_op("Div")
def _div(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    num, den = arg(x, 0), arg(x, 1)
    if num.is_floating_point():
        return num / den
    return torch.div(num, den, rounding_mode="trunc")  # ONNX integer division truncates


@_op("Pow")
def _pow(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    base = arg(x, 0)
    return torch.pow(base, arg(x, 1)).to(base.dtype)  # ONNX: the result has the base's type


@_op("Cast")
def _cast(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, to = arg(x, 0), a["to"]
    if to not in _DTYPES:
        raise UnsupportedOnnxError(f"Cast to ONNX type {to}")
    target = _DTYPES[to]
    if target.is_floating_point and data.is_floating_point():
        return data  # float -> float: the engine chooses the precision (fp32/fp16/bf16)
    return data.to(target)


# ---------------------------------------------------------------- linear algebra, reductions


@_op("MatMul")
def _matmul(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.matmul(arg(x, 0), arg(x, 1))


@_op("ReduceMean")
def _reduce_mean(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = arg(x, 0)
    if opset < 18:
        axes = a.get("axes")
    else:
        given = opt_arg(x, 1)
        axes = None if given is None else as_ints(given)
        if axes is None and a.get("noop_with_empty_axes", 0):
            return data
    dims = tuple(range(data.dim())) if not axes else tuple(axes)
    return data.mean(dim=dims, keepdim=bool(a.get("keepdims", 1)))


# ---------------------------------------------------------------- shapes and indexing


@_op("Shape")
def _shape(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    dims = list(arg(x, 0).shape)[a.get("start", 0) : a.get("end")]
    return torch.tensor(dims, dtype=torch.int64)  # on the host, always


@_op("Reshape")
def _reshape(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, shape = arg(x, 0), as_ints(arg(x, 1))
    if not a.get("allowzero", 0):  # 0 copies the input's dim (unless allowzero)
        shape = [data.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return data.reshape(shape)


@_op("Transpose")
def _transpose(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = arg(x, 0)
    return data.permute(a.get("perm", list(range(data.dim()))[::-1]))


@_op("Concat")
def _concat(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    return torch.cat([t for t in x if t is not None], dim=a["axis"])


def _axes_of(x: Inputs, a: Attrs, opset: int) -> list[int] | None:
    """Squeeze/Unsqueeze axes: an attribute before opset 13, an input since."""
    if opset < 13:
        return a.get("axes")
    given = opt_arg(x, 1)
    return None if given is None else as_ints(given)


@_op("Squeeze")
def _squeeze(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, axes = arg(x, 0), _axes_of(x, a, opset)
    if not axes:
        return data.squeeze()
    return data.squeeze(tuple(norm_axis(ax, data.dim()) for ax in axes))


@_op("Unsqueeze")
def _unsqueeze(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, axes = arg(x, 0), _axes_of(x, a, opset)
    if not axes:
        raise UnsupportedOnnxError("Unsqueeze without axes")
    rank = data.dim() + len(axes)
    for ax in sorted(norm_axis(ax, rank) for ax in axes):
        data = data.unsqueeze(ax)
    return data


@_op("Slice")
def _slice(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = arg(x, 0)
    if opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = as_ints(arg(x, 1)), as_ints(arg(x, 2))
        axes_t, steps_t = opt_arg(x, 3), opt_arg(x, 4)
        axes = None if axes_t is None else as_ints(axes_t)
        steps = None if steps_t is None else as_ints(steps_t)
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    index: list[slice] = [slice(None)] * data.dim()
    flip: list[int] = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        ax, dim = norm_axis(axis, data.dim()), data.shape[norm_axis(axis, data.dim())]
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
    data, idx = arg(x, 0), arg(x, 1).to(torch.int64)
    axis = norm_axis(a.get("axis", 0), data.dim())
    idx = torch.where(idx < 0, idx + data.shape[axis], idx)
    picked = data.index_select(axis, idx.reshape(-1))
    return picked.reshape((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]))


# ---------------------------------------------------------------- constants


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
