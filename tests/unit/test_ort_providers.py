"""Execution-provider selection for ONNX Runtime: a pure function over what the build offers.

The GPU providers cannot run here (CPU onnxruntime, no GPU); what can be checked without one is
the order, the options each provider gets, and the fall-back to CPU with the missing ones named.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.engines.onnxruntime import OrtOptions, select_providers

CPU_ONLY = ["CPUExecutionProvider"]
GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("asked", "available", "chosen", "missing"),
    [
        (("cpu",), CPU_ONLY, ["CPUExecutionProvider"], []),
        (("cuda", "cpu"), CPU_ONLY, ["CPUExecutionProvider"], ["cuda"]),
        (("tensorrt", "cuda"), CPU_ONLY, ["CPUExecutionProvider"], ["tensorrt", "cuda"]),
        (("cuda",), GPU_BUILD, ["CUDAExecutionProvider", "CPUExecutionProvider"], []),
        (
            ("tensorrt", "cuda", "cpu"),
            GPU_BUILD,
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            [],
        ),
        (("cuda", "cuda", "cpu"), GPU_BUILD, ["CUDAExecutionProvider", "CPUExecutionProvider"], []),
        (
            ("tensorrt", "cpu"),
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            CPU_ONLY,
            ["tensorrt"],
        ),
    ],
)
def test_order_and_fallback(
    asked: tuple[str, ...], available: list[str], chosen: list[str], missing: list[str]
) -> None:
    providers, absent = select_providers(OrtOptions(providers=asked), available)
    assert [name for name, _ in providers] == chosen
    assert absent == missing


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown ONNX Runtime providers"):
        select_providers(OrtOptions(providers=("rocm",)), GPU_BUILD)


def test_provider_options_come_from_settings(tmp_path: Path) -> None:
    opts = OrtOptions(
        providers=("tensorrt", "cuda"),
        device_id=1,
        cudnn_conv_algo_search="HEURISTIC",
        trt_cache_dir=tmp_path / "trt",
        trt_fp16=True,
    )
    providers = dict(select_providers(opts, GPU_BUILD)[0])
    assert providers["CUDAExecutionProvider"]["device_id"] == 1
    assert providers["CUDAExecutionProvider"]["cudnn_conv_algo_search"] == "HEURISTIC"
    trt = providers["TensorrtExecutionProvider"]
    assert trt["trt_fp16_enable"] is True
    assert trt["trt_engine_cache_enable"] is True
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert providers["CPUExecutionProvider"] == {}


def test_no_cache_dir_means_no_engine_cache() -> None:
    providers = dict(select_providers(OrtOptions(providers=("tensorrt",)), GPU_BUILD)[0])
    assert "trt_engine_cache_enable" not in providers["TensorrtExecutionProvider"]
