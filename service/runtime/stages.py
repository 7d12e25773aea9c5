"""The engine step of each stage as a batch function, and its batcher.

Each function takes the payloads of one batch (same key, so they stack) and returns one result
per payload. They run on the batcher's worker thread, the only caller of that engine session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.codec.charset import CharsetError
from models.codec.topk import TopK
from service.batching.batcher import DynamicBatcher
from service.batching.policy import BatchPolicy
from service.engines.base import Tensor
from service.metrics import Metrics
from service.ocr import classify
from service.ocr.errors import ModelError
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import RecRow, infer_rows

STAGES = ("det", "cls", "rec")


@dataclass(frozen=True)
class StagePolicies:
    det: BatchPolicy
    cls: BatchPolicy
    rec: BatchPolicy


def det_batch(pipeline: OcrPipeline) -> Callable[[list[Tensor]], list[Tensor]]:
    """(1, 3, h, w) tensors of one shape -> one (1, h, w) probability map each."""
    engine = pipeline.detector.engine

    def run(tensors: list[Tensor]) -> list[Tensor]:
        out = engine.run(np.concatenate(tensors))
        if out.shape[0] != len(tensors):
            raise ModelError(f"detector returned {out.shape[0]} maps for {len(tensors)} images")
        return [out[i] for i in range(len(tensors))]

    return run


def cls_batch(pipeline: OcrPipeline) -> Callable[[list[Tensor]], list[Tensor]]:
    """(3, h, w) rows -> (2,) probabilities each."""
    engine = pipeline.classifier.engine

    def run(rows: list[Tensor]) -> list[Tensor]:
        probs = classify.infer(engine, np.stack(rows), max_batch=len(rows))
        return [probs[i] for i in range(len(rows))]

    return run


def rec_batch(pipeline: OcrPipeline) -> Callable[[list[RecRow]], list[TopK]]:
    """Rows of one width bucket -> each row's top-k table over its own content's time steps."""
    rec = pipeline.recognizer

    def run(rows: list[RecRow]) -> list[TopK]:
        outputs = infer_rows(rec.engine, rows, max_batch=len(rows), step_px=rec.shape.step_px)
        try:
            rec.charset.validate(outputs[0].num_classes)
        except CharsetError as exc:
            raise ModelError(str(exc)) from exc
        return outputs

    return run


@dataclass
class StageBatchers:
    det: DynamicBatcher[Tensor, Tensor]
    cls: DynamicBatcher[Tensor, Tensor]
    rec: DynamicBatcher[RecRow, TopK]

    def all(self) -> Sequence[DynamicBatcher[Any, Any]]:
        return (self.det, self.cls, self.rec)


def make_batchers(
    pipeline: OcrPipeline,
    policies: StagePolicies,
    metrics: Metrics | None,
    expecting: Callable[[str], bool],
    gate: threading.Semaphore | None,
) -> StageBatchers:
    def batcher(stage: str, fn: Any, policy: BatchPolicy) -> DynamicBatcher[Any, Any]:
        return DynamicBatcher(
            stage, fn, policy, metrics=metrics, expecting=lambda: expecting(stage), gate=gate
        )

    return StageBatchers(
        det=batcher("det", det_batch(pipeline), policies.det),
        cls=batcher("cls", cls_batch(pipeline), policies.cls),
        rec=batcher("rec", rec_batch(pipeline), policies.rec),
    )
