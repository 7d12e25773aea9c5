"""OcrResult -> the JSON document every caller sees: the HTTP body of ``POST /v1/ocr`` (which
adds ``request_id`` and ``cached``), ``ocr predict --json`` (which adds ``file``) and the bytes
the result cache keeps (served as they are on a hit). ``api/schemas.py:OcrResponse`` documents
the same shape for OpenAPI; a test holds the two together.

Coordinates are rounded to 0.1 px, scores to 1e-5, timings to 0.01 ms: what is cached and what
is computed afresh are the same document.
"""

from __future__ import annotations

import json
from typing import Any

from service.ocr.layout import text_rows
from service.ocr.types import OcrResult, Quad, Quality, QualityWarning, TextLine

SCHEMA = 4  # bump when the document changes: it is part of the cache fingerprint


def polygon(quad: Quad) -> list[list[float]]:
    return [[round(x, 1), round(y, 1)] for x, y in quad.points]


def export_line(line: TextLine, word_boxes: bool) -> dict[str, Any]:
    words = [{"polygon": polygon(w.quad), "text": w.text} for w in line.words]
    return {
        "polygon": polygon(line.quad),
        "text": line.text,
        "score": round(line.score, 5),
        "angle": line.angle,
        "det_score": round(line.det_score, 5),
        "words": words if word_boxes else None,
    }


def export_result(result: OcrResult, word_boxes: bool = False) -> dict[str, Any]:
    return {
        "model_set": result.model_set,
        "model_versions": dict(result.model_versions),
        "image": {"width": result.width, "height": result.height},
        "lines": [export_line(ln, word_boxes) for ln in result.lines],
        "text": result_text(result),
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
        "quality": export_quality(result.quality),
        "warnings": [export_warning(w) for w in result.warnings],
    }


def export_quality(q: Quality) -> dict[str, float | None]:
    return {"sharpness": q.sharpness, "contrast": q.contrast, "text_height_px": q.text_height_px}


def export_warning(w: QualityWarning) -> dict[str, Any]:
    return {"code": w.code, "reasons": list(w.reasons), "hint": w.hint}


def result_text(result: OcrResult) -> str:
    """Reading order, one visual row per text row."""
    return "\n".join(text_rows(result.lines))


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
