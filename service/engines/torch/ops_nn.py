"""Network-layer ONNX ops in torch: convolution, pooling, normalization, softmax, resize.

These map onto ``torch.nn.functional`` kernels, with the ONNX padding, rounding and coordinate
rules made explicit (auto_pad, asymmetric pads, Resize's nearest/linear modes) so results match
ONNX Runtime. Kept apart from the tensor-level ops (``ops_tensor``); ``graph`` merges
the two ``OPS`` tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    data, weight, bias = arg(x, 0), arg(x, 1), opt_arg(x, 2)
    nd = data.dim() - 2
    begin, end = _pads(a, data.shape[2:], a.get("kernel_shape", weight.shape[2:]))
    if begin != end:
        data, begin = F.pad(data, _torch_pad(begin, end)), [0] * nd
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    strides, dilations = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
    return conv(data, weight, bias, strides, begin, dilations, a.get("group", 1))


@_op("ConvTranspose")
def _conv_transpose(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data, weight, bias = arg(x, 0), arg(x, 1), opt_arg(x, 2)
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
    data, scale, bias, mean, var = (arg(x, i) for i in range(5))
    return F.batch_norm(data, mean, var, scale, bias, False, 0.0, a.get("epsilon", 1e-5))


def _pool_args(a: Attrs, data: torch.Tensor) -> tuple[list[int], list[int], list[int], list[int]]:
    kernel = list(a["kernel_shape"])
    nd = len(kernel)
    begin, end = _pads(a, data.shape[2:], kernel)
    return kernel, list(a.get("strides", [1] * nd)), begin, end


@_op("MaxPool")
def _max_pool(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = arg(x, 0)
    kernel, strides, begin, end = _pool_args(a, data)
    nd = len(kernel)
    dilations = a.get("dilations", [1] * nd)
    if begin != end or any(2 * p > k for p, k in zip(begin, kernel, strict=True)):
        data, begin = F.pad(data, _torch_pad(begin, end), value=-math.inf), [0] * nd
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    return pool(data, kernel, strides, begin, dilations, bool(a.get("ceil_mode", 0)))


@_op("AveragePool")
def _avg_pool(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = arg(x, 0)
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
    data = arg(x, 0)
    return data.mean(dim=tuple(range(2, data.dim())), keepdim=True)


# ---------------------------------------------------------------- softmax


@_op("Softmax")
def _softmax(x: Inputs, a: Attrs, opset: int) -> torch.Tensor:
    data = arg(x, 0)
    axis = norm_axis(a.get("axis", 1 if opset < 13 else -1), data.dim())
    if opset >= 13 or axis == data.dim() - 1:
        return torch.softmax(data, dim=axis)
    # before opset 13: the input is coerced to 2-D at `axis`; softmax runs over all of [axis:]
    flat = data.reshape(*data.shape[:axis], -1)
    return torch.softmax(flat, dim=-1).reshape(data.shape)


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
    data = arg(x, 0)
    if opset < 11:
        raise UnsupportedOnnxError("Resize before opset 11")
    if a.get("antialias", 0) or "axes" in a:
        raise UnsupportedOnnxError("Resize with antialias or axes")
    scales_t, sizes_t = opt_arg(x, 2), opt_arg(x, 3)
    if sizes_t is not None:
        out = as_ints(sizes_t)
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
