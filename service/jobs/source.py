"""A job's input -> its pages: each an encoded image the reading flow takes as it takes an
upload, or why that page cannot be made (it fails alone; the others are read).

``PageSource`` is the one seam between jobs and document formats: an image is one page; a PDF
is its rendered pages (service/documents, issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.jobs.errors import TooManyPages
from service.jobs.model import PageError, page_error
from service.ocr.errors import OcrError

Upload = bytes | OcrError  # one uploaded file, or why it could not be received
Page = bytes | OcrError


class PageSource(Protocol):
    def pages(self, document: bytes) -> list[Page]: ...


class ImagePages:
    """An image upload is one page (decoded later, by the worker that reads it)."""

    def pages(self, document: bytes) -> list[Page]:
        return [document]


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
