"""How a PDF becomes pages, and the limits on it: plain values (no PDFium), so that settings and
the API schemas can name them without loading the renderer."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.ocr.decode import DecodeLimits

PAGES_PATTERN = r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$"


@dataclass(frozen=True)
class PdfOptions:
    """How a PDF becomes pages; the defaults of the whole service (settings take them from here)."""

    dpi: int = 250  # measured on SROIE + FUNSD rendered to PDF (docs/benchmarks.md, issue 12)
    pages: str = ""  # "1-3,7" (1-based); empty: every page
    skip_text_pages: bool = False  # pages that already have a text layer are not read


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int = 100
    image: DecodeLimits = field(default_factory=DecodeLimits)
