"""OpenVINO compile properties: precision and threads come from settings."""

from __future__ import annotations

import pytest

from service.engines.openvino import OpenVinoOptions, compile_config


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (
            OpenVinoOptions(),
            {
                "PERFORMANCE_HINT": "LATENCY",
                "ENABLE_CPU_PINNING": False,
                "INFERENCE_PRECISION_HINT": "f32",
            },
        ),
        (
            OpenVinoOptions(threads=2, precision="bf16"),
            {
                "PERFORMANCE_HINT": "LATENCY",
                "ENABLE_CPU_PINNING": False,
                "INFERENCE_NUM_THREADS": 2,
                "INFERENCE_PRECISION_HINT": "bf16",
            },
        ),
        (
            OpenVinoOptions(precision="auto"),
            {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False},
        ),
    ],
)
def test_compile_config(opts: OpenVinoOptions, expected: dict[str, object]) -> None:
    assert compile_config(opts) == expected
