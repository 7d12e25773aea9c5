"""OcrResult <-> bytes for the result cache. JSON, not pickle: whatever sits in a shared Redis
must never be able to run code in this process. ``SCHEMA`` is part of the cache fingerprint."""

from __future__ import annotations

import json
from typing import Any

from service.ocr.types import OcrResult, Quad, TextLine

SCHEMA = 1


def dumps(result: OcrResult) -> bytes:
    doc = {
        "lines": [
            [[list(p) for p in ln.quad.points], ln.text, ln.score, ln.angle, ln.det_score]
            for ln in result.lines
        ],
        "width": result.width,
        "height": result.height,
        "model_set": result.model_set,
        "model_versions": result.model_versions,
        "timings_ms": result.timings_ms,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes) -> OcrResult:
    doc: dict[str, Any] = json.loads(data)
    lines = tuple(
        TextLine(Quad.from_array(pts), str(text), float(score), int(angle), float(det))  # type: ignore[arg-type]
        for pts, text, score, angle, det in doc["lines"]
    )
    return OcrResult(
        lines=lines,
        width=int(doc["width"]),
        height=int(doc["height"]),
        model_set=str(doc["model_set"]),
        model_versions={str(k): str(v) for k, v in doc["model_versions"].items()},
        timings_ms={str(k): float(v) for k, v in doc["timings_ms"].items()},
    )
