"""The document layer's errors, under the reading path's ``OcrError`` (stable codes, mapped to
HTTP in api/errors.py like every other)."""

from __future__ import annotations

from service.ocr.errors import OcrError


class InvalidPdf(OcrError):
    """Bytes that claim to be a PDF but do not open: truncated, corrupt, no pages."""

    code = "INVALID_PDF"


class PdfEncrypted(OcrError):
    """A PDF that needs a password to open (one with only an owner password opens and is read)."""

    code = "PDF_ENCRYPTED"


class TooManyPages(OcrError):
    """More pages selected than ``max_pages`` (``OCR_MAX_PDF_PAGES``): checked before rendering."""

    code = "TOO_MANY_PAGES"


class BadPageSelection(OcrError):
    """A ``pages`` option that names no page of this PDF (``"9"`` of a 3-page PDF)."""

    code = "INVALID_REQUEST"
