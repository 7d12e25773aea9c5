"""ONNX Runtime CPU engine: one InferenceSession, owned by one caller."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.engines.base import Tensor
from service.ocr.errors import ModelError

log = logging.getLogger(__name__)
ort.disable_telemetry_events()  # see service/engines/__init__.py


@dataclass(frozen=True)
class OrtOptions:
    """Session options. Defaults were chosen by measurement (docs/benchmarks.md)."""

    intra_op_threads: int = 0  # 0 = one per physical core (ORT default)
    inter_op_threads: int = 1
    # Measured (benchmarks/ort_options.py, docs/benchmarks.md): the arena ON with memory
    # patterns OFF gave the lowest peak RSS of the fast configurations for det and rec: without
    # the arena, glibc keeps freed activation buffers; memory patterns pre-plan a buffer per
    # input shape, and every page has another shape.
    cpu_mem_arena: bool = True
    mem_pattern: bool = False
    graph_optimization: str = "all"  # "disable" | "basic" | "extended" | "all"
    # ORT's idle intra-op threads spin-wait for the next op by default. Measured on 2 cores
    # (docs/benchmarks.md, HTTP service): spinning off cut server CPU per receipt from ~1.2 s to
    # ~0.87 s and raised 8-client throughput ~25%, with no loss of single-request latency.
    allow_spinning: bool = False


_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class OnnxEngine:
    name = "onnxruntime"

    def __init__(self, path: Path, options: OrtOptions | None = None) -> None:
        opts = options or OrtOptions()
        so = ort.SessionOptions()
        so.intra_op_num_threads = opts.intra_op_threads
        so.inter_op_num_threads = opts.inter_op_threads
        so.enable_cpu_mem_arena = opts.cpu_mem_arena
        so.enable_mem_pattern = opts.mem_pattern
        so.graph_optimization_level = _OPT_LEVELS[opts.graph_optimization]
        so.log_severity_level = 3
        so.add_session_config_entry(
            "session.intra_op.allow_spinning", str(int(opts.allow_spinning))
        )
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=so, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, batch: Tensor) -> Tensor:
        out = self._session.run(None, {self._input: np.ascontiguousarray(batch, np.float32)})
        return np.asarray(out[0], dtype=np.float32)
