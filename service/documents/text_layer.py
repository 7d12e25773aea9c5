"""The invisible text layer of a searchable PDF: a content stream that places each recognised
word on its word box, and the glyph-less font it is written in.

The font draws nothing (render mode 3), so it needs no glyph program: a Type0 font with
Identity-H encoding whose character ids are given out per document to the characters used,
a ToUnicode CMap mapping them back, and every glyph half an em wide (``HALF_EM``). A word's text
matrix takes its baseline from the word box's bottom edge (as read, so rotated and upside-down
lines work) and its em height from the box's height; the glyphs then stretch over the box.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pikepdf

from service.documents.boxes import words

HALF_EM = 0.5  # every glyph's advance, in ems (DW 500)
# the baseline sits this far above the box's bottom (in 1/1000 em): extractors take a word's
# height from the font's ascent and descent, and poppler puts a descent of its own under a
# font that declares none, which took words below their boxes
DESCENT_MILLI = 200
CMAP_CHUNK = 100  # entries per bfchar block (the CMap format's limit)
MAX_CIDS = 0xFFFE
MIN_GAP = 0.05  # a space between touching words still gets this much of an em
Vector = npt.NDArray[np.float64]


class GlyphlessFont:
    """Character ids (2 bytes, from 1) for the characters of one document, in order of use."""

    def __init__(self) -> None:
        self.cids: dict[str, int] = {}

    def encode(self, text: str) -> str:
        """``text`` as a PDF hex string of character ids."""
        return "<" + "".join(f"{self._cid(ch):04X}" for ch in text) + ">"

    def _cid(self, ch: str) -> int:
        if ch not in self.cids:
            if len(self.cids) >= MAX_CIDS:  # more distinct characters than ids: left unmapped
                return MAX_CIDS + 1
            self.cids[ch] = len(self.cids) + 1
        return self.cids[ch]

    def dictionary(self, pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
        descriptor = pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor,
            FontName=pikepdf.Name.OcrGlyphless,
            Flags=4,
            FontBBox=[0, -DESCENT_MILLI, 500, 1000 - DESCENT_MILLI],
            ItalicAngle=0,
            Ascent=1000 - DESCENT_MILLI,
            Descent=-DESCENT_MILLI,
            CapHeight=1000 - DESCENT_MILLI,
            StemV=80,
        )
        cid_font = pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.CIDFontType2,
            BaseFont=pikepdf.Name.OcrGlyphless,
            CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=descriptor,
            DW=int(HALF_EM * 1000),
            CIDToGIDMap=pikepdf.Name.Identity,
        )
        return pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type0,
            BaseFont=pikepdf.Name.OcrGlyphless,
            Encoding=pikepdf.Name("/Identity-H"),
            DescendantFonts=[cid_font],
            ToUnicode=pikepdf.Stream(pdf, self.to_unicode()),
        )

    def to_unicode(self) -> bytes:
        entries = [f"<{cid:04X}> <{_utf16(ch)}>" for ch, cid in self.cids.items()]
        blocks = []
        for start in range(0, len(entries), CMAP_CHUNK):
            chunk = entries[start : start + CMAP_CHUNK]
            blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar")
        return (CMAP_HEAD + "\n".join(blocks) + CMAP_TAIL).encode("ascii")


CMAP_HEAD = """/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /OcrGlyphless-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
"""
CMAP_TAIL = """
endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""


def _utf16(ch: str) -> str:
    return ch.encode("utf-16-be").hex().upper()


def text_layer(
    lines: list[dict[str, Any]], matrix: tuple[float, ...], font: GlyphlessFont
) -> bytes:
    """The content stream: ``matrix`` takes pixels to the page; the font is ``/OcrFont``."""
    ops = ["q", " ".join(_num(v) for v in matrix) + " cm", "BT", "3 Tr", "/OcrFont 1 Tf"]
    for line in lines:
        ops.extend(_line(line, font))
    ops += ["ET", "Q"]
    return ("\n".join(ops) + "\n").encode("ascii")


def _line(line: dict[str, Any], font: GlyphlessFont) -> list[str]:
    quads = [(w["text"], np.asarray(w["polygon"], np.float64)) for w in words(line)]
    ops = []
    for i, (text, quad) in enumerate(quads):
        up = quad[0] - quad[3]
        base = quad[3] + up * (DESCENT_MILLI / 1000)
        ops.append(_show(font.encode(text), base, quad[2] - quad[3], up, len(text)))
        if i + 1 < len(quads):
            gap = quads[i + 1][1][3] - quad[2]
            if float(np.dot(gap, quad[2] - quad[3])) <= 0:  # touching or overlapping
                gap = (quad[2] - quad[3]) / max(1, len(text)) * MIN_GAP
            ops.append(_show(font.encode(" "), quad[2] + up * (DESCENT_MILLI / 1000), gap, up, 1))
    return ops


def _show(hex_text: str, origin: Vector, along: Vector, up: Vector, glyphs: int) -> str:
    """Glyphs from ``origin`` spread over ``along`` (the baseline), ``up`` an em high."""
    x = along / (HALF_EM * max(1, glyphs))
    values = (x[0], x[1], up[0], up[1], origin[0], origin[1])
    return " ".join(_num(v) for v in values) + f" Tm {hex_text} Tj"


def _num(value: float) -> str:
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
