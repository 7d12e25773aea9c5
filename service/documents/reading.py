"""A PDF's pages through the one reading flow (``OcrPipeline.read``): the page loop written once,
for the CLI (``DirectPages``: one page after another in this thread) and the server
(``service/runtime/documents.py:ServedPages``: pages at once on the batchers, so their crops
share det, cls and rec batches). Each page: rendered (or, with ``skip_text_pages``, its text
layer taken as it is) -> read -> its entry in the PDF's document (documents/document.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar

from service.documents.document import page_document, pdf_document, skipped_page
from service.documents.options import PdfLimits, PdfOptions
from service.documents.pdf import PageInfo, PdfSource
from service.fields.document import result_document
from service.ocr.decode import decode_image, sniff_format
from service.ocr.pipeline import OcrPipeline
from service.ocr.steps import run_inline
from service.ocr.types import Image, OcrOptions, OcrResult

T = TypeVar("T")
PS = ParamSpec("PS")
Doc = dict[str, Any]


class PageSteps(Protocol):
    """How pages are worked on: where CPU work runs, how an image is read, how many at once."""

    @property
    def model_set(self) -> str: ...

    @property
    def versions(self) -> dict[str, str]: ...

    async def cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T: ...

    async def read(self, image: Image, options: OcrOptions) -> OcrResult: ...

    async def each(self, calls: Sequence[Callable[[], Awaitable[Doc]]]) -> list[Doc]:
        """Every call's result, in order; the first failure cancels the rest."""
        ...


async def read_page(
    steps: PageSteps, source: PdfSource, page: PageInfo, options: OcrOptions, skip: bool
) -> Doc:
    """One page's entry in the PDF's document."""
    if skip and page.text_layer:
        text = await steps.cpu(source.text, page)
        return skipped_page(page, text, steps.model_set, steps.versions)
    start = time.perf_counter()
    image = await steps.cpu(source.render, page)
    render_ms = (time.perf_counter() - start) * 1000
    result = await steps.read(image, options)
    return page_document(result_document(result, options), page, render_ms)


async def read_pdf(steps: PageSteps, source: PdfSource, options: OcrOptions, skip: bool) -> Doc:
    """The whole PDF's document: every selected page, in page order."""
    start = time.perf_counter()

    def call(page: PageInfo) -> Callable[[], Awaitable[Doc]]:
        return lambda: read_page(steps, source, page, options, skip)

    pages = await steps.each([call(p) for p in source.pages])
    total_ms = (time.perf_counter() - start) * 1000
    return pdf_document(pages, steps.model_set, steps.versions, total_ms)


class DirectPages:
    """Pages one after another in this thread (``ocr predict``): never suspends."""

    def __init__(self, pipeline: OcrPipeline) -> None:
        self.pipeline = pipeline

    @property
    def model_set(self) -> str:
        return self.pipeline.name

    @property
    def versions(self) -> dict[str, str]:
        return self.pipeline.versions

    async def cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        return fn(*args, **kwargs)

    async def read(self, image: Image, options: OcrOptions) -> OcrResult:
        return await self.pipeline.read(image, options, self.pipeline.direct)

    async def each(self, calls: Sequence[Callable[[], Awaitable[Doc]]]) -> list[Doc]:
        return [await call() for call in calls]


def read_document(
    pipeline: OcrPipeline, data: bytes, options: OcrOptions, pdf: PdfOptions, limits: PdfLimits
) -> Doc:
    """An image's or a PDF's result document, read in this thread (``ocr predict``)."""
    if sniff_format(data) != "PDF":
        return result_document(pipeline.run(decode_image(data, limits.image), options), options)
    source = PdfSource.open(data, pdf, limits)
    try:
        return run_inline(read_pdf(DirectPages(pipeline), source, options, pdf.skip_text_pages))
    finally:
        source.close()
