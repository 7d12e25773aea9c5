"""OpenVINO engine (CPU): one compiled model and one infer request, owned by one caller.

On CPUs with AVX-512 BF16 (this machine's EPYC has it) OpenVINO runs in bfloat16 unless told
otherwise: ~1.9x faster than ONNX Runtime's fp32 on the PP-OCR models here, with outputs that
differ at the 1e-2 level. In float32 it is as fast as ONNX Runtime and matches it (1e-5).
Which precision a deployment may use is an accuracy question: docs/benchmarks.md.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from service.engines.base import EngineBase, Tensor
from service.ocr.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenVinoOptions:
    threads: int = 0  # 0 = OpenVINO's choice (all cores)
    # "f32": exact; "bf16": faster where the CPU has native bf16; "auto": OpenVINO's default
    # (bf16 on such CPUs, f32 elsewhere).
    precision: Literal["f32", "bf16", "auto"] = "f32"


def compile_config(opts: OpenVinoOptions) -> dict[str, Any]:
    """The compile-time properties; pure, so the choices are testable without OpenVINO."""
    # No thread pinning: the server runs three compiled models (det, cls, rec) and its own CPU
    # pool on the same cores, and pinning every model's threads to them buys nothing there
    # (measured within noise: 8 clients 1.41 img/s pinned, 1.41-1.50 unpinned).
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
    if opts.threads > 0:
        config["INFERENCE_NUM_THREADS"] = opts.threads
    if opts.precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = opts.precision
    return config


class OpenVinoEngine(EngineBase):
    name = "openvino"

    @classmethod
    def host_precisions(cls) -> tuple[str, ...]:
        """f32, plus bf16 where the CPU plugin reports native bf16 (AVX512_BF16 or AMX)."""
        return native_precisions(_cpu_capabilities())

    def __init__(self, path: Path, options: OpenVinoOptions | None = None) -> None:
        opts = options or OpenVinoOptions()
        try:
            import openvino as ov
        except ImportError as exc:
            raise ModelError(f"engine=openvino needs pip install '.[openvino]' ({exc})") from exc
        try:
            core = ov.Core()
            model = core.read_model(str(path))
            self._compiled = core.compile_model(model, "CPU", compile_config(opts))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelError(f"cannot load ONNX model {path} into OpenVINO: {exc}") from exc
        self._request = self._compiled.create_infer_request()
        self._output = self._compiled.output(0)
        self.metadata = _onnx_metadata(model)
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type
        self.precision = str(hint.get_type_name())

    def run(self, batch: Tensor) -> Tensor:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        out = self._request.infer({0: x})[self._output]
        return np.array(out, dtype=np.float32)  # a copy: the request reuses its buffers


def native_precisions(capabilities: tuple[str, ...] | None) -> tuple[str, ...]:
    """Pure: the precisions worth choosing, from the CPU plugin's OPTIMIZATION_CAPABILITIES
    (None: OpenVINO is not installed). Without native bf16 OpenVINO emulates it: slower."""
    if capabilities is None:
        return ()
    return ("f32", "bf16") if "BF16" in capabilities else ("f32",)


@functools.cache
def _cpu_capabilities() -> tuple[str, ...] | None:
    try:
        import openvino as ov
    except ImportError:
        return None
    return tuple(str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def _onnx_metadata(model: Any) -> dict[str, str]:
    """The ONNX metadata_props (the rec dictionary lives in `character`): OpenVINO's ONNX
    frontend keeps them in the model's runtime info under `framework`."""
    info = model.get_rt_info()
    if "framework" not in info:
        return {}
    framework = info["framework"]
    if hasattr(framework, "astype"):
        framework = framework.astype(dict)
    return {str(k): v.astype(str) if hasattr(v, "astype") else str(v) for k, v in framework.items()}
