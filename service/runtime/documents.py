"""The pages of one PDF through the served flow: rendered on the CPU pool, read with the same
batchers as images, ``at_once`` pages at a time (so their crops share det, cls and rec batches,
and at most that many pages' pixels are held: admission counted the largest ones)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from service.documents.document import page_document, skipped_page
from service.documents.pdf import PageInfo, PdfSource
from service.fields.document import result_document
from service.ocr.types import OcrOptions, OcrResult
from service.runtime.batched import ServedSet

T = TypeVar("T")


class PageReader:
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

    async def read(
        self, source: PdfSource, options: OcrOptions, skip_text_pages: bool
    ) -> list[dict[str, Any]]:
        """Every selected page's document, in page order; the first failure cancels the rest."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._page(source, page, options, skip_text_pages))
                    for page in source.pages
                ]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [t.result() for t in tasks]

    async def _page(
        self, source: PdfSource, page: PageInfo, options: OcrOptions, skip: bool
    ) -> dict[str, Any]:
        served = self.served
        if skip and page.text_layer:
            text = await self._on_cpu(source.text, page)
            return skipped_page(page, text, served.name, served.pipeline.versions)
        loop = asyncio.get_running_loop()
        async with self._window:
            start = loop.time()
            image = await self._on_cpu(source.render, page)
            render_ms = (loop.time() - start) * 1000
            result = await served.read(image, options)
        self._observe(result)
        return page_document(result_document(result, options), page, render_ms)

    async def _on_cpu(self, fn: Callable[[PageInfo], T], page: PageInfo) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, page)
