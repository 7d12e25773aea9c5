"""Detector input bucketing: few padded shapes for GPU engines, geometry unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from service.engines.base import EngineBase
from service.ocr.detect import TextDetector, bucket_shape, pad_to, parse_buckets
from service.ocr.types import DetOptions


class _Recorder(EngineBase):
    name = "recorder"

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape)
        return np.zeros((batch.shape[0], 1, *batch.shape[2:]), np.float32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", ()), ("640", (640,)), (" 1280, 640 ,960,640", (640, 960, 1280))],
)
def test_parse(text: str, expected: tuple[int, ...]) -> None:
    assert parse_buckets(text) == expected


@pytest.mark.parametrize("text", ["abc", "640,650", "0", "-32"])
def test_parse_refuses_bad_buckets(text: str) -> None:
    with pytest.raises(ValueError):
        parse_buckets(text)


@pytest.mark.parametrize(
    ("h", "w", "buckets", "expected"),
    [
        (736, 960, (), (736, 960)),
        (736, 960, (640, 960, 1280), (960, 960)),
        (320, 1280, (640, 960, 1280), (640, 1280)),
        (1600, 96, (640, 960, 1280), (1600, 640)),  # beyond the last bucket: keep, never shrink
    ],
)
def test_bucket_shape(h: int, w: int, buckets: tuple[int, ...], expected: tuple[int, int]) -> None:
    assert bucket_shape(h, w, buckets) == expected


def test_pad_keeps_the_valid_region_top_left() -> None:
    t = np.ones((1, 3, 64, 96), np.float32)
    padded = pad_to(t, (128, 128))
    assert padded.shape == (1, 3, 128, 128)
    assert padded[:, :, :64, :96].min() == 1 and padded[:, :, 64:].max() == 0
    assert pad_to(t, (64, 96)) is t


def test_preprocess_pads_to_the_bucket_and_keeps_geometry() -> None:
    det = TextDetector(_Recorder(), buckets=(640, 960))  # type: ignore[arg-type]
    pixels = np.full((500, 300, 3), 255, np.uint8)
    tensor, geometry = det.preprocess(pixels, DetOptions(limit_side_len=960))
    assert tensor.shape == (1, 3, 640, 640)
    assert (geometry.resized_h, geometry.resized_w) == (512, 288)
    assert (geometry.src_h, geometry.src_w) == (500, 300)


def test_warmup_covers_every_bucket_shape() -> None:
    engine = _Recorder()
    TextDetector(engine, buckets=(640, 960)).warmup()  # type: ignore[arg-type]
    assert sorted(s[2:] for s in engine.shapes) == [(640, 640), (640, 960), (960, 640), (960, 960)]
    engine = _Recorder()
    TextDetector(engine).warmup()  # type: ignore[arg-type]
    assert len(engine.shapes) == 1
