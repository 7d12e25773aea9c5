"""The JSON document of a PDF: what ``POST /v1/ocr`` answers (and the cache keeps) for a PDF,
and what ``ocr predict --format json`` prints for one.

It wraps the per-image document (``service.ocr.export`` / ``service.fields.document``): each
page is that document plus ``page`` (its number in the PDF) and ``text_layer`` (the page had
text already); the top level has the image result's keys that apply to a whole document
(``model_set``, ``model_versions``, ``timings_ms``, ``text`` with pages separated by a form
feed) and ``pages``. ``api/schemas.py:PdfResponse`` documents it; a test holds the two together.
Image results keep their own shape: ``pages_of`` gives both kinds as a list of pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.documents.pdf import PageInfo
from service.ocr.export import export_result
from service.ocr.types import OcrResult

PAGE_BREAK = "\f"


def page_document(
    page_doc: dict[str, Any], page: PageInfo, render_ms: float = 0.0
) -> dict[str, Any]:
    """One page's entry: the per-image document of its rendering (``render`` added to its
    timings), and where it came from."""
    timings = {"render": round(render_ms, 2), **page_doc["timings_ms"]}
    return {**page_doc, "timings_ms": timings, "page": page.number, "text_layer": page.text_layer}


def skipped_page(
    page: PageInfo, text: str, model_set: str, versions: dict[str, str]
) -> dict[str, Any]:
    """A page left unread (``skip_text_pages``): no lines, its own text layer as its text."""
    empty = OcrResult((), page.width, page.height, model_set, versions, {})
    return page_document({**export_result(empty), "text": text.strip()}, page)


def pdf_document(
    pages: Sequence[dict[str, Any]], model_set: str, versions: dict[str, str], total_ms: float
) -> dict[str, Any]:
    """The whole PDF's document. ``timings_ms``: each stage summed over the pages (pages run
    concurrently, so the sum can pass ``total``, the wall time of the whole document)."""
    timings: dict[str, float] = {}
    for page in pages:
        for stage, ms in page["timings_ms"].items():
            if stage != "total":
                timings[stage] = round(timings.get(stage, 0.0) + ms, 2)
    timings["total"] = round(total_ms, 2)
    return {
        "model_set": model_set,
        "model_versions": dict(versions),
        "text": PAGE_BREAK.join(p["text"] for p in pages),
        "timings_ms": timings,
        "pages": list(pages),
    }


def pages_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The pages of a result document: a PDF's ``pages``, or an image result as page 1."""
    if "pages" in doc:
        return list(doc["pages"])
    return [{**doc, "page": 1, "text_layer": False}]
