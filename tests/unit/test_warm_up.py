"""Warm-up covers every shape an engine compiles for: input buckets x (for engines that say so)
batch buckets."""

from __future__ import annotations

import numpy as np
import pytest

from service.engines.base import EngineBase, warm_up
from service.ocr.detect import TextDetector
from service.ocr.recognize import RecShape, TextRecognizer
from tests.unit.test_recognize import CHARSET


class Recorder(EngineBase):
    name = "recorder"

    def __init__(self, sizes: list[int] | None = None) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.sizes = sizes

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape)
        n, _, h, w = batch.shape
        return np.zeros((n, w // 8, len(CHARSET)) if h == 48 else (n, 1, h, w), np.float32)


class BatchTuned(Recorder):
    def warm_batch_sizes(self, max_rows: int) -> list[int]:
        return [b for b in (1, 2, 4, 8) if b <= max_rows]


def test_plain_engines_warm_one_row_per_shape() -> None:
    engine = Recorder()
    warm_up(engine, (3, 64, 64), max_rows=8)
    assert engine.shapes == [(1, 3, 64, 64)]


def test_batch_tuned_engines_warm_every_batch_size() -> None:
    engine = BatchTuned()
    warm_up(engine, (3, 64, 64), max_rows=4)
    assert [s[0] for s in engine.shapes] == [1, 2, 4]


def test_detector_and_recogniser_warm_input_x_batch_buckets() -> None:
    det = BatchTuned()
    TextDetector(det, buckets=(320, 640), max_batch=2).warmup()  # type: ignore[arg-type]
    assert len(det.shapes) == 4 * 2 and {s[0] for s in det.shapes} == {1, 2}
    rec = BatchTuned()
    # 960 px per batch: 8 rows of 80 px, 3 of 320 px (-> batch sizes 1, 2), 1 of 960 px
    TextRecognizer(
        rec, CHARSET, RecShape(buckets=(80, 320, 960)), max_batch=8, max_batch_px=960
    ).warmup()  # type: ignore[arg-type]
    assert sorted({(s[0], s[3]) for s in rec.shapes}) == [
        (1, 80),
        (1, 320),
        (1, 960),
        (2, 80),
        (2, 320),
        (4, 80),
        (8, 80),
    ]


def test_an_engine_without_per_shape_specialisation_warms_one_line() -> None:
    rec = Recorder()
    rec.shape_specialised = False  # ONNX Runtime's CPU provider
    TextRecognizer(rec, CHARSET, RecShape(buckets=(80, 320, 960))).warmup()  # type: ignore[arg-type]
    assert rec.shapes == [(1, 3, 48, 320)]


@pytest.mark.parametrize(
    ("max_rows", "expected"),
    [(1, [1]), (3, [1, 2, 4]), (8, [1, 2, 4, 8]), (100, [1, 2, 4, 8, 16, 32, 64])],
)
def test_torch_warm_sizes(max_rows: int, expected: list[int]) -> None:
    from service.engines.torch.engine import warm_sizes

    assert warm_sizes((1, 2, 4, 8, 16, 32, 64), max_rows) == expected
