"""The output formats of a result: ``format`` = json | text | hocr | alto | pdf. Each renders
from the result document (which the cache keeps) and, for the searchable PDF, the bytes that
were read; every one handles an image and a multi-page PDF alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.documents.alto import alto
from service.documents.hocr import hocr
from service.ocr.export import encode

CONTENT_TYPES = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "hocr": "application/xhtml+xml; charset=utf-8",
    "alto": "application/xml; charset=utf-8",
    "pdf": "application/pdf",
}


def plain_text(doc: dict[str, Any]) -> bytes:
    """Reading rows, one per line; a PDF's pages separated by a form feed."""
    text: str = doc["text"]
    return (text + "\n").encode() if text else b""


_RENDERERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "json": encode,
    "text": plain_text,
    "hocr": hocr,
    "alto": alto,
}


def render_document(fmt: str, doc: dict[str, Any], source: bytes) -> bytes:
    """``doc`` (read from ``source``) in format ``fmt`` (one of ``CONTENT_TYPES``)."""
    if fmt == "pdf":  # pikepdf is imported for this format only (it costs start-up time)
        from service.documents.searchable import searchable_pdf

        return searchable_pdf(doc, source)
    return _RENDERERS[fmt](doc)
