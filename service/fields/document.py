"""The result document with the key fields asked for: what the HTTP API and ``ocr predict``
answer when a request sets ``fields`` (``service.ocr.export`` alone otherwise)."""

from __future__ import annotations

from typing import Any

from service.ocr.export import export_result
from service.ocr.types import OcrOptions, OcrResult


def result_document(result: OcrResult, options: OcrOptions) -> dict[str, Any]:
    doc = export_result(result, options.word_boxes)
    if options.fields == "receipt":  # imported when asked for: not on every reading's path
        from service.fields.receipt import extract_receipt_fields

        found = extract_receipt_fields(result.lines, result.width, result.height)
        doc["fields"] = found.to_dict()
    return doc
