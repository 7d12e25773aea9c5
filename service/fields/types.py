"""What the receipt extractor returns: four optional fields, each with the lines it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.ocr.types import Quad

FIELD_NAMES = ("company", "date", "address", "total")


@dataclass(frozen=True)
class Field:
    """One extracted key field.

    value: the text as printed (SROIE convention: a date without its time, a total without a
        currency that is printed apart from it, a company without its registration number).
    normalized: ISO 8601 for a date ("2018-10-19"), a plain decimal for a total ("1234.50"),
        else None.
    currency: ISO 4217 code when one is printed with the total ("RM" -> "MYR"), else None.
    confidence: in [0, 1]; how sure the rule is, times the recogniser's line scores.
    polygons: the quads of the lines the value came from.
    """

    value: str
    normalized: str | None
    currency: str | None
    confidence: float
    polygons: tuple[Quad, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "normalized": self.normalized,
            "currency": self.currency,
            "confidence": round(self.confidence, 4),
            "polygons": [
                [[round(x, 1), round(y, 1)] for x, y in quad.points] for quad in self.polygons
            ],
        }


@dataclass(frozen=True)
class ReceiptFields:
    """The SROIE task-3 key fields of one receipt; a field that was not found is None."""

    company: Field | None = None
    date: Field | None = None
    address: Field | None = None
    total: Field | None = None

    def to_dict(self) -> dict[str, dict[str, Any] | None]:
        """JSON-ready: {"company": {...} | None, "date": ..., "address": ..., "total": ...}."""
        out: dict[str, dict[str, Any] | None] = {}
        for name in FIELD_NAMES:
            found: Field | None = getattr(self, name)
            out[name] = None if found is None else found.to_dict()
        return out

    def values(self) -> dict[str, str | None]:
        """Just the printed values, as the SROIE scorer compares them."""
        out: dict[str, str | None] = {}
        for name in FIELD_NAMES:
            found: Field | None = getattr(self, name)
            out[name] = None if found is None else found.value
        return out
