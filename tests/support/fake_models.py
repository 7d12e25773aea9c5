"""A model set made of fake engines, for contract tests that need the whole server but no model
files: the API's error codes, admission, time-outs and disconnects run in milliseconds.

The fakes follow the real models' contracts (shapes, classes) with trivial maths: the detector
finds dark regions, the classifier says "upright", the recogniser reads every line as "TEXT".
``delay_s`` makes each engine call on real input that slow, to hold requests in flight.
"""

from __future__ import annotations

import time

import numpy as np

from models.codec.charset import Charset
from service.engines.base import EngineBase, Tensor
from service.ocr.classify import AngleClassifier
from service.ocr.detect import TextDetector
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import TextRecognizer
from service.runtime.runtime import Loader
from service.settings import Settings

CHARSET = Charset.from_text("\n".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
WORD = "TEXT"


class _Slow(EngineBase):
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def run(self, batch: Tensor) -> Tensor:
        if batch.any():  # warm-up batches are all zeros: they stay fast
            time.sleep(self.delay_s)
        return self.compute(batch)

    def compute(self, batch: Tensor) -> Tensor:
        raise NotImplementedError


class FakeDetector(_Slow):
    """(N, 3, H, W) normalised to [-1, 1] -> (N, 1, H, W): dark pixels are text."""

    def compute(self, batch: Tensor) -> Tensor:
        return np.clip((1.0 - batch.mean(axis=1, keepdims=True)) / 2.0, 0, 1).astype(np.float32)


class FakeClassifier(_Slow):
    def compute(self, batch: Tensor) -> Tensor:
        return np.tile(np.array([[0.99, 0.01]], np.float32), (batch.shape[0], 1))


class FakeRecognizer(_Slow):
    """Every row reads ``WORD``: one class per time step, then blanks."""

    def compute(self, batch: Tensor) -> Tensor:
        steps = batch.shape[3] // 8
        out = np.zeros((batch.shape[0], steps, len(CHARSET)), np.float32)
        out[:, :, 0] = 1.0
        for t, ch in enumerate(WORD[:steps]):
            out[:, t, 0] = 0.0
            out[:, t, CHARSET.symbols.index(ch) + 1] = 1.0
        return out


def fake_loader(delay_s: float = 0.0) -> Loader:
    def load(s: Settings, name: str) -> OcrPipeline:
        versions = {"det": "fake-det", "cls": "fake-cls", "rec": "fake-rec"}
        return OcrPipeline(
            name,
            versions,
            TextDetector(FakeDetector(delay_s), max_batch=s.det_max_batch),
            AngleClassifier(FakeClassifier(delay_s), max_batch=s.cls_max_batch),
            TextRecognizer(FakeRecognizer(delay_s), CHARSET, max_batch=s.rec_batch_size),
        )

    return load
