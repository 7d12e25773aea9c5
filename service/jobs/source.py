"""A job's input -> its pages: each an encoded image the reading flow takes as it takes an
upload, or why that page cannot be made (it fails alone; the others are read).

``PageSource`` is the one seam between jobs and document formats. ``DocumentPages``: an image
is one page; a PDF is its selected pages (``pages``, ``dpi``), rendered by the page source of
``/v1/ocr`` (service/documents/pdf.py) at submission and kept as PNG, losslessly: a worker on
any replica decodes the very pixels ``/v1/ocr`` would have read. A PDF that does not open fails
as one page; one with more pages than the job may have refuses the whole job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2

from service.documents.errors import TooManyPages
from service.documents.options import PdfLimits, PdfOptions
from service.documents.pdf import PdfSource
from service.jobs.model import PageError, page_error
from service.ocr.decode import sniff_format
from service.ocr.errors import OcrError

Upload = bytes | OcrError  # one uploaded file, or why it could not be received
Page = bytes | OcrError


class PageSource(Protocol):
    def pages(self, document: bytes) -> list[Page]: ...


class DocumentPages:
    def __init__(self, pdf: PdfOptions, limits: PdfLimits) -> None:
        self.pdf = pdf
        self.limits = limits

    def pages(self, document: bytes) -> list[Page]:
        if sniff_format(document) != "PDF":
            return [document]
        try:
            source = PdfSource.open(document, self.pdf, self.limits)
        except TooManyPages:
            raise
        except OcrError as exc:  # corrupt, encrypted, a page too large: fails as one page
            return [exc]
        try:
            return [_rendered(source, n) for n in range(len(source.pages))]
        finally:
            source.close()


def _rendered(source: PdfSource, index: int) -> Page:
    try:
        pixels = source.render(source.pages[index]).pixels
    except OcrError as exc:
        return exc
    ok, png = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return png.tobytes() if ok else OcrError("could not encode a rendered page")


def job_pages(
    uploads: Sequence[Upload], source: PageSource, max_pages: int
) -> list[bytes | PageError]:
    """Every upload's pages in order, numbered from 1; over ``max_pages`` is refused whole."""
    pages: list[Page] = []
    for upload in uploads:
        pages.extend([upload] if isinstance(upload, OcrError) else source.pages(upload))
        if len(pages) > max_pages:
            raise TooManyPages(f"more than {max_pages} pages in one job (OCR_JOB_MAX_PAGES)")
    return [p if isinstance(p, bytes) else page_error(n, p) for n, p in enumerate(pages, 1)]
