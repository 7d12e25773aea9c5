"""An image's or a PDF's result document read in this thread (``ocr predict``): the same flow,
page source and documents as the server, one page after another, with direct calls instead of
batchers (the server's version: service/runtime/documents.py)."""

from __future__ import annotations

import time
from typing import Any

from service.documents.document import page_document, pdf_document, skipped_page
from service.documents.options import PdfLimits, PdfOptions
from service.documents.pdf import PageInfo, PdfSource
from service.fields.document import result_document
from service.ocr.decode import decode_image, sniff_format
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import OcrOptions


def read_document(
    pipeline: OcrPipeline, data: bytes, options: OcrOptions, pdf: PdfOptions, limits: PdfLimits
) -> dict[str, Any]:
    if sniff_format(data) != "PDF":
        return result_document(pipeline.run(decode_image(data, limits.image), options), options)
    start = time.perf_counter()
    source = PdfSource.open(data, pdf, limits)
    try:
        pages = [_page(pipeline, source, p, options, pdf.skip_text_pages) for p in source.pages]
    finally:
        source.close()
    total_ms = (time.perf_counter() - start) * 1000
    return pdf_document(pages, pipeline.name, pipeline.versions, total_ms)


def _page(
    pipeline: OcrPipeline, source: PdfSource, page: PageInfo, options: OcrOptions, skip: bool
) -> dict[str, Any]:
    if skip and page.text_layer:
        return skipped_page(page, source.text(page), pipeline.name, pipeline.versions)
    start = time.perf_counter()
    image = source.render(page)
    render_ms = (time.perf_counter() - start) * 1000
    result = pipeline.run(image, options)
    return page_document(result_document(result, options), page, render_ms)
