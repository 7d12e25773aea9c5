"""OcrResult <-> bytes for the result cache. JSON, not pickle: whatever sits in a shared Redis
must never be able to run code in this process. ``SCHEMA`` is part of the cache fingerprint."""

from __future__ import annotations

import json
from typing import Any

from service.ocr.types import OcrResult, Quad, TextLine, Word

SCHEMA = 2


def dumps(result: OcrResult) -> bytes:
    doc = {
        "lines": [
            [
                [list(p) for p in ln.quad.points],
                ln.text,
                ln.score,
                ln.angle,
                ln.det_score,
                [[w.text, [list(p) for p in w.quad.points]] for w in ln.words],
            ]
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
        TextLine(
            Quad.from_array(pts),
            str(text),
            float(score),
            int(angle),  # type: ignore[arg-type]
            float(det),
            tuple(Word(str(w), Quad.from_array(q)) for w, q in words),
        )
        for pts, text, score, angle, det, words in doc["lines"]
    )
    return OcrResult(
        lines=lines,
        width=int(doc["width"]),
        height=int(doc["height"]),
        model_set=str(doc["model_set"]),
        model_versions={str(k): str(v) for k, v in doc["model_versions"].items()},
        timings_ms={str(k): float(v) for k, v in doc["timings_ms"].items()},
    )
