"""Static INT8 quantisation in QDQ format (onnxruntime.quantization), calibrated on real data.

Weights are int8 (per output channel by default), activations uint8 with ranges from the
calibration tensors. What stays in float32 is chosen per model by measurement: whole op types
(`exclude_ops`), named nodes, or the last `fp32_tail` compute layers (Conv / ConvTranspose /
MatMul / Gemm in graph order), which feed the probability maps and logits directly.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import onnx
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
from onnxruntime.quantization.shape_inference import quant_pre_process

from models.quantize.onnx_meta import copy_metadata, io_types

log = logging.getLogger(__name__)

Method = Literal["minmax", "entropy", "percentile"]
MIN_OPSET = 13
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


@dataclass(frozen=True)
class Int8Config:
    method: Method = "minmax"
    per_channel: bool = True
    exclude_ops: tuple[str, ...] = ()
    exclude_nodes: tuple[str, ...] = ()
    fp32_tail: int = 0  # the last N compute nodes stay float32
    percentile: float = 99.999
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "per_channel": self.per_channel,
            "exclude_ops": list(self.exclude_ops),
            "exclude_nodes": list(self.exclude_nodes),
            "fp32_tail": self.fp32_tail,
        }


def tail_nodes(model: onnx.ModelProto, n: int) -> list[str]:
    """Names of the last `n` compute nodes in graph (topological) order."""
    if n <= 0:
        return []
    names = [node.name for node in model.graph.node if node.op_type in COMPUTE_OPS]
    return names[-n:]


def op_types_to_quantize(exclude: Sequence[str]) -> list[str]:
    every = set(QLinearOpsRegistry) | set(QDQRegistry)
    return sorted(every - set(exclude))


def _preprocess(src: Path, dst: Path) -> Path:
    """Opset >= 13 (per-channel DequantizeLinear needs its `axis`; the PP-OCR exports are opset
    11, and ORT then writes a graph it cannot load), then ORT's recommended pre-pass (shape
    inference + graph optimisation), with plain ONNX shape inference when symbolic inference
    cannot handle a graph."""
    model = onnx.load(str(src))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        model = version_converter.convert_version(model, MIN_OPSET)
    upgraded = dst.with_name("opset.onnx")
    onnx.save(model, str(upgraded))
    # The pre-pass writes temporary files into the working directory: keep them in dst's.
    with contextlib.chdir(dst.parent):
        try:
            quant_pre_process(str(upgraded), str(dst), skip_symbolic_shape=False)
        except Exception as exc:
            log.info("symbolic shape inference failed (%r); using ONNX shape inference", exc)
            quant_pre_process(str(upgraded), str(dst), skip_symbolic_shape=True)
    return dst


def _name_nodes(model: onnx.ModelProto) -> None:
    """Give unnamed nodes stable names so they can be excluded by name."""
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


def quantize_int8(
    src: Path, dst: Path, reader: CalibrationDataReader, config: Int8Config = Int8Config()
) -> dict[str, Any]:
    """Write a QDQ INT8 copy of `src` to `dst`, calibrated on `reader`; returns what was done
    (excluded nodes, quantised node count) for the record."""
    original = onnx.load(str(src))
    with tempfile.TemporaryDirectory(prefix="ocr-int8-") as tmp:
        pre = _preprocess(src, Path(tmp) / "pre.onnx")
        model = onnx.load(str(pre))
        _name_nodes(model)
        onnx.save(model, str(pre))
        excluded = [*config.exclude_nodes, *tail_nodes(model, config.fp32_tail)]
        # Not CalibMaxIntermediateOutputs: ORT 1.32 MinMax drops (does not merge) the chunks it
        # flushes, keeping only the last partial one. MinMax outputs are per-tensor scalars anyway.
        extra: dict[str, Any] = dict(config.extra)
        if config.method == "percentile":
            extra["CalibPercentile"] = config.percentile
        quantize_static(
            str(pre),
            str(dst),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=config.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=_METHODS[config.method],
            op_types_to_quantize=op_types_to_quantize(config.exclude_ops),
            nodes_to_exclude=excluded,
            extra_options=extra,
        )
    quantized = onnx.load(str(dst))
    copy_metadata(original, quantized)
    if io_types(quantized) != io_types(original):
        raise ValueError("INT8 quantisation changed the graph IO types")
    onnx.save(quantized, str(dst))
    n_q = sum(node.op_type == "QuantizeLinear" for node in quantized.graph.node)
    return {**config.describe(), "excluded_nodes": excluded, "quantize_linear_nodes": n_q}
