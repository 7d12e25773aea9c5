"""One DynamicBatcher per stage, each running that stage's own engine step (``infer``) on its
worker thread, the only caller of that engine session."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from models.codec.topk import TopK
from service.batching.batcher import DynamicBatcher
from service.batching.policy import BatchPolicy
from service.engines.base import Tensor
from service.metrics import Metrics
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import RecRow


@dataclass(frozen=True)
class StagePolicies:
    det: BatchPolicy
    cls: BatchPolicy
    rec: BatchPolicy


@dataclass
class StageBatchers:
    det: DynamicBatcher[Tensor, Tensor]
    cls: DynamicBatcher[Tensor, Tensor]
    rec: DynamicBatcher[RecRow, TopK]

    def all(self) -> Sequence[DynamicBatcher[Any, Any]]:
        return (self.det, self.cls, self.rec)


async def release_memory(pipeline: OcrPipeline, batchers: StageBatchers) -> None:
    """Each engine gives memory kept after a peak back (ONNX Runtime: its arena's free blocks),
    on its stage's worker thread: the session's one owner."""
    engines = (pipeline.detector.engine, pipeline.classifier.engine, pipeline.recognizer.engine)
    for batcher, engine in zip(batchers.all(), engines, strict=True):
        await batcher.call_alone(engine.release_memory)


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
        det=batcher("det", pipeline.detector.infer, policies.det),
        cls=batcher("cls", pipeline.classifier.infer, policies.cls),
        rec=batcher("rec", pipeline.recognizer.infer, policies.rec),
    )
