"""PyTorch engine: the ONNX file run by ``graph.OnnxModule`` on CUDA (the GPU path) or CPU.

- Device: ``auto`` -> CUDA when ``torch.cuda.is_available()``, else CPU. ``cuda`` asked for but
  missing falls back to CPU with a warning (the service still serves, slower) rather than failing
  at start; ``resolve_device`` is the pure rule.
- Precision: ``auto`` -> float16 on CUDA, float32 on CPU. Inputs are cast to it on the device;
  outputs come back as float32.
- Batch buckets (CUDA only): a batch is padded with zero rows up to the next bucket and the
  output sliced back, so kernels (and CUDA graphs) see few shapes; batches above the largest
  bucket are split. On the CPU padding would only cost time, so batches run as they come (still
  split at the largest bucket).
- CUDA graphs (optional, CUDA only): one graph per (bucket, input shape), captured after a
  warm-up run and replayed with a static input buffer; at most ``max_cuda_graphs`` shapes are
  captured, later shapes run eagerly. Graphs share one memory pool: replays are sequential, one
  owner per engine (as for every engine here).
- cuDNN autotuning (``cudnn.benchmark``) is switched on for CUDA: it tunes once per input shape,
  as the ONNX Runtime CUDA provider's EXHAUSTIVE search does.

Only this module and ``graph`` (with its ``ops*`` op tables) import torch; the loader
imports them when engine=torch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# Idle OpenMP threads sleep instead of spin-waiting (read when torch loads its OpenMP runtime, so
# before `import torch`; an explicit OMP_WAIT_POLICY wins). Measured on the shared 2-core machine:
# v6 rec, 4x48x320, 2 threads: ~2.5 s per batch spinning vs ~0.55 s passive (ORT: ~0.4 s), the
# same trap as ONNX Runtime's spinning (OCR_ORT_ALLOW_SPINNING).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from service.engines.base import EngineBase, Tensor, TopKArrays
from service.engines.torch.graph import OnnxModule, load_onnx
from service.ocr.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TorchOptions:
    device: str = "auto"  # "auto" | "cuda" | "cpu"
    dtype: str = "auto"  # "auto" | "float32" | "float16" | "bfloat16"
    cuda_graphs: bool = False
    device_id: int = 0
    threads: int = 0  # CPU intra-op threads; 0 = leave torch's default (process-wide setting)
    batch_buckets: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    max_cuda_graphs: int = 32  # shapes captured per engine; later shapes run eagerly


def resolve_device(requested: str, cuda_available: bool, device_id: int) -> tuple[str, str]:
    """(torch device string, a note to log or ""). Never fails: no CUDA means the CPU."""
    if requested == "cpu":
        return "cpu", ""
    if requested not in ("auto", "cuda"):
        raise ValueError(f"torch device must be auto, cuda or cpu, not {requested!r}")
    if cuda_available:
        return f"cuda:{device_id}", ""
    if requested == "cuda":
        return "cpu", "torch engine: CUDA was requested but is not available; running on the CPU"
    return "cpu", "torch engine: no CUDA device; running on the CPU"


def resolve_dtype(requested: str, device_type: str) -> str:
    """The torch dtype name: ``auto`` is float16 on CUDA and float32 elsewhere."""
    if requested == "auto":
        return "float16" if device_type == "cuda" else "float32"
    if requested not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"torch dtype must be auto, float32, float16 or bfloat16: {requested!r}")
    return requested


def plan_chunks(n: int, buckets: tuple[int, ...], pad: bool) -> list[tuple[int, int, int]]:
    """Split ``n`` rows into (start, stop, rows to run): chunks of at most the largest bucket,
    each padded up to the smallest bucket that holds it when ``pad``. An empty batch runs one
    zero row (some graphs cannot reshape 0 rows), sliced off again: the output keeps its shape."""
    top = max(buckets)
    chunks = []
    for start in range(0, max(n, 1), top):
        stop = min(start + top, n)
        rows = max(stop - start, 1)
        if pad:
            rows = min(b for b in buckets if b >= rows)
        chunks.append((start, stop, rows))
    return chunks


def warm_sizes(buckets: tuple[int, ...], max_rows: int) -> list[int]:
    """The batch buckets a stage sending at most ``max_rows`` rows per call will use."""
    cap = min((b for b in buckets if b >= max_rows), default=max(buckets))
    return [b for b in sorted(buckets) if b <= cap]


@cache
def _log_once(level: int, message: str) -> None:
    log.log(level, message)


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    static_in: torch.Tensor
    static_out: torch.Tensor


class TorchEngine(EngineBase):
    name = "torch"
    top_k_on_device = True  # run_topk selects on the device: N x T x k to the host

    def __init__(self, path: Path, options: TorchOptions | None = None) -> None:
        opts = options or TorchOptions()
        device, note = resolve_device(opts.device, torch.cuda.is_available(), opts.device_id)
        if note:
            _log_once(logging.WARNING if opts.device == "cuda" else logging.INFO, note)
        self.device = torch.device(device)
        dtype = resolve_dtype(opts.dtype, self.device.type)
        self.dtype: torch.dtype = getattr(torch, dtype)
        self.precision = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}.get(dtype, dtype)
        if opts.threads > 0:
            torch.set_num_threads(opts.threads)
        try:
            module = load_onnx(path)
        except Exception as exc:  # onnx/protobuf raise assorted errors; UnsupportedOnnxError
            raise ModelError(f"cannot load ONNX model {path} into torch: {exc}") from exc
        self.metadata = module.metadata
        self._module: OnnxModule = module.to(self.device, self.dtype).eval()
        self._options = opts
        on_cuda = self.device.type == "cuda"
        self._pad = on_cuda
        self._use_graphs = opts.cuda_graphs and on_cuda
        self._graphs: dict[tuple[int, ...], _Graph] = {}
        self._pool = torch.cuda.graph_pool_handle() if self._use_graphs else None
        if on_cuda:
            torch.backends.cudnn.benchmark = True

    def run(self, batch: Tensor) -> Tensor:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        outs = []
        with torch.inference_mode():
            for start, stop, rows in plan_chunks(
                x.shape[0], self._options.batch_buckets, self._pad
            ):
                y = self._forward(x[start:stop], rows)
                outs.append(y[: stop - start].float().cpu().numpy())
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def warm_batch_sizes(self, max_rows: int) -> list[int]:
        """Batch sizes to run at warm-up: every bucket up to ``max_rows`` on CUDA (each is its
        own cuDNN plan and CUDA graph), one row on the CPU (nothing is compiled per shape)."""
        return warm_sizes(self._options.batch_buckets, max_rows) if self._pad else [1]

    def run_topk(self, batch: Tensor, k: int) -> TopKArrays:
        """The k most probable classes of every step of a (N, T, C) output, selected where the
        output lives: on a GPU only N x T x k values cross to the host, not N x T x C (a batch of
        64 rows of 960 px over 18,710 classes is ~575 MB of fp32). Returns (values, indices, C),
        most probable first."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        values, indices = [], []
        with torch.inference_mode():
            for start, stop, rows in plan_chunks(
                x.shape[0], self._options.batch_buckets, self._pad
            ):
                y = self._forward(x[start:stop], rows)[: stop - start]
                classes = int(y.shape[-1])
                top = torch.topk(y.float(), min(k, classes), dim=-1, sorted=True)
                values.append(top.values.cpu().numpy())
                indices.append(top.indices.to(torch.int32).cpu().numpy())
        return np.concatenate(values), np.concatenate(indices), classes

    def _forward(self, chunk: np.ndarray, rows: int) -> torch.Tensor:
        """The model's first output for ``chunk`` padded with zero rows to ``rows``."""
        src = torch.from_numpy(chunk)
        if self._use_graphs:
            key = (rows, *chunk.shape[1:])
            graph = self._graphs.get(key)
            if graph is None and len(self._graphs) < self._options.max_cuda_graphs:
                graph = self._capture(self._device_input(src, rows))
                self._graphs[key] = graph
            if graph is not None:
                graph.static_in[: chunk.shape[0]].copy_(src)
                graph.static_in[chunk.shape[0] :].zero_()
                graph.graph.replay()
                return graph.static_out
        return self._module(self._device_input(src, rows))[0]

    def _device_input(self, src: torch.Tensor, rows: int) -> torch.Tensor:
        if rows == src.shape[0]:
            return src.to(self.device).to(self.dtype)
        padded = torch.zeros((rows, *src.shape[1:]), device=self.device, dtype=self.dtype)
        padded[: src.shape[0]].copy_(src)
        return padded

    def _capture(self, example: torch.Tensor) -> _Graph:
        static_in = example.clone()
        with torch.cuda.device(self.device):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._module(static_in)  # warm-up: cuDNN autotuning, allocations
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # thread_local: engines of other stages may use CUDA from their own threads meanwhile
            with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                static_out = self._module(static_in)[0]
        log.info("torch engine: captured a CUDA graph for input %s", tuple(static_in.shape))
        return _Graph(graph, static_in, static_out)
