"""Where the reading flow's steps run: ``Steps`` is what the flow (``OcrPipeline.read``) is given.

The flow decides the order of stages and what each one gets; a ``Steps`` decides where the work
runs. ``DirectSteps`` (CLI, eval, bench, the precision gate) calls each stage's engine step and
the CPU work in the calling thread; the server's ``BatchedSteps`` (service/runtime/batched.py)
sends engine steps through the cross-request batchers and CPU work to a thread pool. Both run
the same flow, so what the CLI measures is what the server answers.

A flow given ``DirectSteps`` never suspends: ``run_inline`` drives it to the end without an
event loop (so it also works inside a running one, and costs nothing per call).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar

from models.codec.topk import TopK
from service.engines.base import Tensor
from service.ocr.classify import AngleClassifier
from service.ocr.detect import TextDetector
from service.ocr.recognize import RecRow, TextRecognizer

T = TypeVar("T")
PS = ParamSpec("PS")
STAGES = ("det", "cls", "rec")


class Steps(Protocol):
    async def cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        """Run pre/post-processing (pure numpy/OpenCV work)."""
        ...

    async def det(self, tensor: Tensor) -> Tensor:
        """One (1, 3, h, w) detector input -> its probability map."""
        ...

    async def cls(self, rows: Sequence[Tensor]) -> list[Tensor]:
        """Classifier rows -> one (2,) probability per row."""
        ...

    async def rec(self, rows: Sequence[RecRow]) -> list[TopK]:
        """Recogniser rows -> each row's top-k table over its content's time steps."""
        ...

    def skip(self, stage: str) -> None:
        """The flow will send nothing (more) to ``stage`` for this request."""
        ...


class DirectSteps:
    """Every step in the calling thread, straight to the stage's engine step."""

    def __init__(
        self, detector: TextDetector, classifier: AngleClassifier, recognizer: TextRecognizer
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.recognizer = recognizer

    async def cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        return fn(*args, **kwargs)

    async def det(self, tensor: Tensor) -> Tensor:
        return self.detector.infer([tensor])[0]

    async def cls(self, rows: Sequence[Tensor]) -> list[Tensor]:
        return self.classifier.infer(rows)

    async def rec(self, rows: Sequence[RecRow]) -> list[TopK]:
        return self.recognizer.infer(rows)

    def skip(self, stage: str) -> None:
        pass


def run_inline(flow: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (a flow on ``DirectSteps``)."""
    try:
        flow.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    flow.close()
    raise RuntimeError("the flow suspended: steps that wait need an event loop (asyncio.run)")
