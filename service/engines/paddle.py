"""Paddle Inference CPU engine: one predictor for a Paddle-format model, owned by one caller.

Paddle is imported lazily, here only, when a Paddle-format model is loaded: the service's import
path stays free of it. The legacy ``.pdmodel`` program is run with the old IR: Paddle Inference
3.3's new IR (PIR) fails on the PP-OCR models with oneDNN (``fuse_activation is not
pir::StrAttribute``), see docs/DESIGN.md. A ``.json`` (PIR) program needs the new IR.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from service.engines.base import EngineBase, Tensor
from service.ocr.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaddleOptions:
    """Predictor options. Defaults were chosen by measurement (docs/benchmarks.md, issue 5)."""

    threads: int = 0  # CPU math threads; 0 = one per physical core (Paddle's own default is 1)
    # oneDNN (MKL-DNN) kernels. Measured on 2 vCPUs (benchmarks/engines_compare.py,
    # docs/benchmarks.md): off is 3.2x slower per receipt and 3.8x per line crop, with about
    # the same peak RSS on pages; same text either way.
    mkldnn: bool = True
    # oneDNN caches primitives per input shape, and every page has another det shape: unbounded
    # (0, Paddle's default) the det model grew ~15 MiB per new shape without end; 10 levelled
    # off at ~1.4 GiB. 1 is ~140 MiB leaner on receipts but slower on repeated crop shapes.
    mkldnn_cache_capacity: int = 10
    memory_optim: bool = True  # reuse activation buffers between ops
    ir_optim: bool = True  # graph fusion passes
    # None: old IR for a legacy .pdmodel program, the new IR (PIR) for a .json program.
    new_ir: bool | None = None
    # auto: the GPU when paddle is a CUDA build (paddlepaddle-gpu, docker/Dockerfile.gpu) and
    # sees a device; the CPU otherwise.
    device: Literal["auto", "gpu", "cpu"] = "auto"
    device_id: int = 0
    gpu_memory_pool_mb: int = 256  # initial pool; Paddle grows it on demand


def resolve_device(requested: str, cuda_build: bool, gpus: int) -> tuple[str, str]:
    """("gpu" | "cpu", a warning or ""). Pure: the caller asks paddle what it was built with."""
    if requested == "cpu":
        return "cpu", ""
    if cuda_build and gpus > 0:
        return "gpu", ""
    if requested == "gpu":
        why = "a CPU build of paddle" if not cuda_build else "no visible GPU"
        return "cpu", f"paddle engine: GPU requested but {why}; running on the CPU"
    return "cpu", ""


def _physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or cannot tell: logical count
        n = None
    return max(1, n or os.cpu_count() or 1)


def _model_files(paths: tuple[Path, ...]) -> tuple[Path, Path]:
    """(program, params) from a task's files; anything else (a dictionary .txt) is ignored."""
    programs = [p for p in paths if p.suffix in (".pdmodel", ".json")]
    params = [p for p in paths if p.suffix == ".pdiparams"]
    if len(programs) != 1 or len(params) != 1:
        names = ", ".join(p.name for p in paths) or "none"
        raise ModelError(
            "a Paddle model needs exactly one .pdmodel or .json program and one .pdiparams "
            f"file; got {names}"
        )
    for p in (programs[0], params[0]):
        if not p.is_file():
            raise ModelError(f"Paddle model file {p} is missing")
    return programs[0], params[0]


def _check_program(program: Path) -> None:
    """Refuse a program file Paddle cannot parse: Paddle Inference 3.3 crashes the process
    (SIGSEGV) on some malformed ``.pdmodel`` files instead of raising."""
    data = program.read_bytes()
    if program.suffix == ".json":
        try:
            json.loads(data)
        except ValueError as exc:
            raise ModelError(f"cannot load Paddle model {program}: not a PIR JSON program") from exc
        return
    from google.protobuf.message import DecodeError

    framework_pb2: Any = importlib.import_module("paddle.base.proto.framework_pb2")
    desc = framework_pb2.ProgramDesc()
    try:
        desc.ParseFromString(data)
    except DecodeError as exc:
        raise ModelError(f"cannot load Paddle model {program}: not a Paddle program") from exc
    ops = {op.type for block in desc.blocks for op in block.ops}
    if not {"feed", "fetch"} <= ops:
        raise ModelError(f"cannot load Paddle model {program}: no feed/fetch ops in the program")


def _import_inference() -> Any:
    with warnings.catch_warnings():
        # paddle warns at import about a missing ccache (for custom C++ ops, unused here).
        warnings.simplefilter("ignore")
        os.environ.setdefault("GLOG_minloglevel", "2")
        import paddle.inference as inference
    return inference


class PaddleEngine(EngineBase):
    name = "paddle"

    def __init__(self, paths: tuple[Path, ...], options: PaddleOptions | None = None) -> None:
        opts = options or PaddleOptions()
        self._program, self._params = _model_files(tuple(paths))
        self._new_ir = opts.new_ir if opts.new_ir is not None else self._program.suffix == ".json"
        if self._new_ir and opts.memory_optim:
            # Paddle 3.3's PIR predictor fails to build with memory optimisation on ("Not find
            # predictor_id 0 and pass_name memory_optimize_pass"), for every PP-OCR program.
            opts = replace(opts, memory_optim=False)
        try:
            self._inference = _import_inference()
        except ImportError as exc:
            raise ModelError(f"Paddle-format models need paddlepaddle installed ({exc})") from exc
        _check_program(self._program)
        self._device = self._pick_device(opts)
        self._options = opts
        self._build(opts)

    @staticmethod
    def _pick_device(opts: PaddleOptions) -> str:
        import paddle

        cuda_build = bool(paddle.is_compiled_with_cuda())
        gpus = paddle.device.cuda.device_count() if cuda_build else 0
        device, note = resolve_device(opts.device, cuda_build, gpus)
        if note:
            log.warning(note)
        return device

    def _build(self, opts: PaddleOptions) -> None:
        inference, program = self._inference, self._program
        try:
            config = inference.Config(str(program), str(self._params))
            if self._device == "gpu":
                config.enable_use_gpu(opts.gpu_memory_pool_mb, opts.device_id)
            else:
                config.disable_gpu()
            config.disable_glog_info()
            config.enable_new_ir(self._new_ir)
            config.switch_ir_optim(opts.ir_optim)
            config.set_cpu_math_library_num_threads(opts.threads or _physical_cores())
            if opts.mkldnn and self._device == "cpu":
                config.enable_mkldnn()
                config.set_mkldnn_cache_capacity(opts.mkldnn_cache_capacity)
            else:
                config.disable_mkldnn()
            if opts.memory_optim:
                config.enable_memory_optim()
            self._predictor = inference.create_predictor(config)
        except Exception as exc:  # paddle raises its own (often untyped) errors
            raise ModelError(f"cannot load Paddle model {program}: {exc}") from exc
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        log.debug(
            "paddle engine %s (new_ir=%s, mkldnn=%s)", program.name, self._new_ir, opts.mkldnn
        )

    def run(self, batch: Tensor) -> Tensor:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        try:
            return self._run(x)
        except Exception as exc:
            if not (self._new_ir and self._options.mkldnn and self._device == "cpu"):
                raise ModelError(f"Paddle inference failed on {self._program.name}: {exc}") from exc
            # PIR + oneDNN cannot run some programs (e.g. a double-typed interpolation scale in
            # a DB detector: "ConvertPirAttribute2RuntimeAttribute not support"); found at the
            # first run, i.e. during warm-up. Plain kernels run them: slower, same results.
            log.warning(
                "paddle engine: oneDNN cannot run %s (%s); using plain CPU kernels",
                self._program.name,
                str(exc).strip().splitlines()[0][:160],
            )
            self._options = replace(self._options, mkldnn=False)
            self._build(self._options)
            return self._run(x)

    def _run(self, x: Tensor) -> Tensor:
        self._input.reshape(list(x.shape))
        self._input.copy_from_cpu(x)
        self._predictor.run()
        return np.asarray(self._output.copy_to_cpu(), dtype=np.float32)
