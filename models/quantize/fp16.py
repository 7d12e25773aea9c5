"""FP16 conversion (onnxconverter-common) that keeps the engine contract: float32 inputs and
outputs (Cast nodes at the edges) and the model's metadata (the rec dictionary).

ONNX Runtime's CPU provider has few FP16 kernels, so on CPU the converted graph mostly runs
through inserted Casts and is slower; FP16 is meant for the CUDA / TensorRT providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnx
from onnxconverter_common import float16

from models.quantize.onnx_meta import copy_metadata, io_types

# Ops kept in float32 besides onnxconverter-common's own DEFAULT_OP_BLOCK_LIST. None by default:
# measured on PP-OCRv6/v4 (docs/benchmarks.md), the plain conversion stayed within tolerance.
DEFAULT_FP16_BLOCK: tuple[str, ...] = ()


def convert_fp16(
    src: Path,
    dst: Path,
    op_block: Sequence[str] = DEFAULT_FP16_BLOCK,
    node_block: Sequence[str] = (),
) -> Path:
    """Write an FP16 copy of `src` to `dst`; inputs/outputs stay float32, metadata is kept."""
    model = onnx.load(str(src))
    before = io_types(model)
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(op_block))
    converted = float16.convert_float_to_float16(
        model,
        keep_io_types=True,
        op_block_list=block,
        node_block_list=list(node_block) or None,
        disable_shape_infer=False,
    )
    copy_metadata(model, converted)
    after = io_types(converted)
    if after != before:
        raise ValueError(f"FP16 conversion changed the graph IO types: {before} -> {after}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(dst))
    return dst
