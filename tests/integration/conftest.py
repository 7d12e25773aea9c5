"""Fixtures for integration tests: real model files.

TEMPORARY: points at the files extracted under /tmp/wh/x; will be replaced by the registry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_V6 = Path("/tmp/wh/x/rapidocr/models")
_V4 = Path("/tmp/wh/x/rapidocr_onnxruntime/models")


@pytest.fixture(scope="session")
def v6_files() -> dict[str, Path]:
    return {
        "det": _V6 / "PP-OCRv6_det_small.onnx",
        "cls": _V6 / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        "rec": _V6 / "PP-OCRv6_rec_small.onnx",
    }


@pytest.fixture(scope="session")
def v4_files() -> dict[str, Path]:
    return {
        "det": _V4 / "ch_PP-OCRv4_det_infer.onnx",
        "cls": _V4 / "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "rec": _V4 / "ch_PP-OCRv4_rec_infer.onnx",
    }
