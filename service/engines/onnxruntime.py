"""ONNX Runtime engine: one InferenceSession, owned by one caller.

Execution providers come from settings in priority order (``tensorrt,cuda,cpu``). The ones this
onnxruntime build lacks (the CPU wheel has only CPU) are dropped with one log line, so a GPU
configuration still starts on a CPU-only host: slower, never down. CPU is always the last resort.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from service.engines.base import EngineBase, Tensor
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
    # One arena for every session of the process (det, cls, rec): each session's own arena
    # keeps its largest run, so their peaks add up; a shared one holds only the largest stage's
    # (measured: det 1280x960 then rec 16x48x320, 448 -> 300 MB peak RSS, docs/benchmarks.md).
    shared_arena: bool = True
    mem_pattern: bool = False
    graph_optimization: str = "all"  # "disable" | "basic" | "extended" | "all"
    # ORT's idle intra-op threads spin-wait for the next op by default. Measured on 2 cores
    # (docs/benchmarks.md, HTTP service): spinning off cut server CPU per receipt from ~1.2 s to
    # ~0.87 s and raised 8-client throughput ~25%, with no loss of single-request latency.
    allow_spinning: bool = False
    providers: tuple[str, ...] = ("cpu",)  # priority order: tensorrt, cuda, cpu
    device_id: int = 0
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "EXHAUSTIVE"
    trt_cache_dir: Path | None = None
    trt_fp16: bool = False


CPU = "CPUExecutionProvider"


@functools.cache
def register_shared_arena() -> None:
    """Register the process-wide CPU arena that sessions opened with ``shared_arena`` use
    (``session.use_env_allocators``); once per process. It grows by powers of two, as a
    session's own arena does: growing by exactly what was asked measured higher (det then rec
    then det of another shape: 369 vs 303 MB), every new shape leaving a chunk of its own."""
    info = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    ort.create_and_register_allocator(info, ort.OrtArenaCfg({"arena_extend_strategy": 0}))


_SHRINK = ort.RunOptions()
_SHRINK.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
ProviderList = list[tuple[str, dict[str, Any]]]


def select_providers(opts: OrtOptions, available: Sequence[str]) -> tuple[ProviderList, list[str]]:
    """Providers to ask ORT for, with their options, and the requested ones that are missing.

    Pure: `available` is ``ort.get_available_providers()``. Unknown names are a config error;
    CPU is appended when not asked for, so a session always opens.
    """
    unknown = [p for p in opts.providers if p not in PROVIDER_NAMES]
    if unknown:
        raise ValueError(f"unknown ONNX Runtime providers {unknown}; use {sorted(PROVIDER_NAMES)}")
    wanted = list(dict.fromkeys([*opts.providers, "cpu"]))
    chosen: ProviderList = []
    missing: list[str] = []
    for key in wanted:
        name = PROVIDER_NAMES[key]
        if name not in available:
            missing.append(key)
            continue
        chosen.append((name, _provider_options(key, opts)))
    return chosen, missing


def _provider_options(key: str, opts: OrtOptions) -> dict[str, Any]:
    if key == "cuda":
        return {
            "device_id": opts.device_id,
            "cudnn_conv_algo_search": opts.cudnn_conv_algo_search,
            # Copy inputs on the default stream; our batches are small host arrays.
            "do_copy_in_default_stream": True,
        }
    if key == "tensorrt":
        out: dict[str, Any] = {"device_id": opts.device_id, "trt_fp16_enable": opts.trt_fp16}
        if opts.trt_cache_dir is not None:
            # Building an engine takes minutes per shape profile: keep them on a volume.
            out |= {
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(opts.trt_cache_dir),
            }
            out |= {
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(opts.trt_cache_dir),
            }
        return out
    return {}


_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session_options(opts: OrtOptions) -> ort.SessionOptions:
    """The CPU-side session options of ``opts`` (threads, arena, optimisation, spinning)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = opts.intra_op_threads
    so.inter_op_num_threads = opts.inter_op_threads
    so.enable_cpu_mem_arena = opts.cpu_mem_arena
    so.enable_mem_pattern = opts.mem_pattern
    so.graph_optimization_level = _OPT_LEVELS[opts.graph_optimization]
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", str(int(opts.allow_spinning)))
    if opts.cpu_mem_arena and opts.shared_arena:
        register_shared_arena()
        so.add_session_config_entry("session.use_env_allocators", "1")
    return so


class OnnxEngine(EngineBase):
    name = "onnxruntime"
    precision = "f32"  # the graph's own: an FP16 set's files run in fp16 where the op allows

    def __init__(self, path: Path, options: OrtOptions | None = None) -> None:
        opts = options or OrtOptions()
        so = session_options(opts)
        try:
            providers, missing = select_providers(opts, ort.get_available_providers())
        except ValueError as exc:
            raise ModelError(str(exc)) from exc
        if missing:
            log.warning(
                "onnxruntime %s lacks providers %s for %s; running on %s",
                ort.__version__,
                ",".join(missing),
                path.name,
                ",".join(n for n, _ in providers),
            )
        if opts.trt_cache_dir is not None and any(
            n == PROVIDER_NAMES["tensorrt"] for n, _ in providers
        ):
            opts.trt_cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
        self.providers: list[str] = list(self._session.get_providers())
        # The CPU provider picks its kernels per op, not per input shape: a new shape's first
        # run costs what later ones do (measured, docs/benchmarks.md "Cold start"). CUDA's
        # EXHAUSTIVE conv search and TensorRT's engine profiles are per shape.
        self.shape_specialised = self.providers[0] != CPU
        dropped = [n for n, _ in providers if n not in self.providers]
        if dropped:  # e.g. onnxruntime-gpu without a driver or CUDA libraries
            log.warning(
                "%s failed to initialise for %s; running on %s",
                ",".join(dropped),
                path.name,
                ",".join(self.providers),
            )
        self._input = self._session.get_inputs()[0].name
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self._smallest: tuple[int, ...] | None = None  # one row of the smallest input run

    def run(self, batch: Tensor) -> Tensor:
        row = (1, *batch.shape[1:])
        if self._smallest is None or math.prod(row) < math.prod(self._smallest):
            self._smallest = row
        out = self._session.run(None, {self._input: np.ascontiguousarray(batch, np.float32)})
        return np.asarray(out[0], dtype=np.float32)

    def release_memory(self) -> None:
        """Give the arena's free memory back to the OS (it keeps the peak of every batch it
        ran): one run of the smallest input seen with arena shrinkage on. Measured on the det
        model: 519 -> 203 MB RSS after a 1280x1280 page; as an option of every run it cost
        ~20 % of det time (docs/benchmarks.md), so the server calls this when it goes idle."""
        if self._smallest is None or not self.providers or self.providers[0] != CPU:
            return
        zeros = np.zeros(self._smallest, np.float32)
        self._session.run(None, {self._input: zeros}, _SHRINK)
