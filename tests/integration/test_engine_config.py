"""Engine configuration on the real models, where no GPU exists: a GPU provider list falls back
to CPU with a log line and the same results; bucketed detector shapes read the same text."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from service.engines.onnxruntime import OnnxEngine
from service.ocr.decode import decode_image
from service.ocr.types import OcrResult
from service.runtime.loader import load_pipeline, ort_options
from service.settings import Settings

pytestmark = pytest.mark.integration

RECEIPT = Path(__file__).resolve().parents[2] / "samples" / "receipt.png"


def _lines(result: OcrResult) -> list[str]:
    return [line.text for line in result.lines]


def test_gpu_providers_fall_back_to_cpu_with_a_warning(
    v6_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(ort_providers="tensorrt,cuda,cpu", intra_op_threads=1)
    with caplog.at_level(logging.WARNING, logger="service.engines.onnxruntime"):
        gpu_conf = OnnxEngine(v6_files["cls"], ort_options(settings))
    assert gpu_conf.providers == ["CPUExecutionProvider"]
    assert any("lacks providers tensorrt,cuda" in r.getMessage() for r in caplog.records)
    cpu = OnnxEngine(v6_files["cls"], ort_options(Settings(intra_op_threads=1)))
    batch = np.random.default_rng(0).uniform(-1, 1, (3, 3, 48, 192)).astype(np.float32)
    np.testing.assert_array_equal(gpu_conf.run(batch), cpu.run(batch))


def test_bucketed_detector_reads_the_same_receipt() -> None:
    image = decode_image(RECEIPT.read_bytes())
    plain = Settings(intra_op_threads=1)
    bucketed = Settings(intra_op_threads=1, det_buckets="320,640,960,1280")
    a = load_pipeline(plain, "ppocr-v6-small").run(image, plain.ocr_options())
    b = load_pipeline(bucketed, "ppocr-v6-small").run(image, bucketed.ocr_options())
    assert _lines(a) and _lines(b) == _lines(a)
    # Padding changes what the deeper layers see near the image's right/bottom edge: the boxes
    # move by up to ~3 px here (2.8 px measured on a 35 px line), the text not at all.
    for la, lb in zip(a.lines, b.lines, strict=True):
        assert np.abs(la.quad.as_array() - lb.quad.as_array()).max() <= 4.0


def test_unknown_provider_is_refused_at_load(v6_files: dict[str, Path]) -> None:
    from service.ocr.errors import ModelError

    with pytest.raises(ModelError, match="unknown ONNX Runtime providers"):
        OnnxEngine(v6_files["cls"], ort_options(Settings(ort_providers="rocm")))
