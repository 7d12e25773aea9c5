"""The server's ``PageSteps`` (documents/reading.py): a PDF's pages read at once on the batchers,
so their crops share det, cls and rec batches; rendering on the CPU pool; at most ``at_once``
pages rendered or being read at a time (admission counted that many of the largest pages)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

from service.documents.reading import Doc
from service.ocr.types import Image, OcrOptions, OcrResult
from service.runtime.batched import ServedSet, on_pool

T = TypeVar("T")
PS = ParamSpec("PS")


class ServedPages:
    def __init__(
        self,
        served: ServedSet,
        cpu: Executor,
        at_once: int,
        observe: Callable[[OcrResult], None],
    ) -> None:
        self.served = served
        self._cpu = cpu
        self._window = asyncio.Semaphore(at_once)
        self._observe = observe

    @property
    def model_set(self) -> str:
        return self.served.name

    @property
    def versions(self) -> dict[str, str]:
        return self.served.pipeline.versions

    async def cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        return await on_pool(self._cpu, fn, *args, **kwargs)

    async def read(self, image: Image, options: OcrOptions) -> OcrResult:
        result = await self.served.read(image, options)
        self._observe(result)
        return result

    async def each(self, calls: Sequence[Callable[[], Awaitable[Doc]]]) -> list[Doc]:
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._windowed(call)) for call in calls]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [t.result() for t in tasks]

    async def _windowed(self, call: Callable[[], Awaitable[Doc]]) -> Doc:
        async with self._window:
            return await call()
