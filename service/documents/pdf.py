"""PDF bytes + options -> page images: the page source of ``POST /v1/ocr``, ``ocr predict`` and
(later) the jobs. PDFium (pypdfium2) opens and renders.

Everything that bounds the work is checked when the PDF is opened, before a page is rendered:
the bytes, the password, the page count of the selection (``TOO_MANY_PAGES``) and each selected
page's size in pixels at the chosen DPI (``IMAGE_TOO_LARGE``, the image limits). A page's
pixels are known from its size in points, so admission can count every page from ``pages``
alone, as it counts an image from its header.

PDFium is not thread-safe: every call into it, from any thread, holds one process-wide lock.
A render holds it for one page at a time, so the pages of concurrent PDFs interleave.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from service.documents.errors import BadPageSelection, InvalidPdf, PdfEncrypted, TooManyPages
from service.documents.options import PAGES_PATTERN, PdfLimits, PdfOptions
from service.ocr.decode import DecodeLimits, Header
from service.ocr.errors import ImageTooLarge, PayloadTooLarge
from service.ocr.types import Image

if TYPE_CHECKING:  # PDFium is imported when a PDF is opened: `ocr predict IMAGE` never loads it
    import pypdfium2 as pdfium

POINTS_PER_INCH = 72
# PDFium's BGR bitmap plus our copy of it, and slack for PDFium's own page state
RENDER_BYTES_PER_PIXEL = 7
_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
_PDFIUM = threading.Lock()


class _Handle(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=_Handle)


@dataclass(frozen=True)
class PageInfo:
    """One selected page: its number in the PDF and its size in pixels at the chosen DPI."""

    number: int  # 1-based
    width: int
    height: int
    text_layer: bool  # the page already holds text

    def header(self) -> Header:
        """The page as admission sees an image: its rendered size and peak bytes per pixel."""
        return Header("PDF", self.width, self.height, RENDER_BYTES_PER_PIXEL)


def select_pages(spec: str, count: int) -> list[int]:
    """``"1-3,7"`` -> [1, 2, 3, 7] (sorted, each once); empty -> every page."""
    if not spec.strip():
        return list(range(1, count + 1))
    if not re.fullmatch(PAGES_PATTERN, spec):
        raise BadPageSelection(f"pages={spec!r}: write page numbers and ranges, as in 1-3,7")
    chosen: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        lo, hi = int(first), int(last or first)
        if not 1 <= lo <= hi <= count:
            raise BadPageSelection(f"pages={spec!r}: this PDF has pages 1 to {count}")
        chosen.update(range(lo, hi + 1))
    return sorted(chosen)


@contextmanager
def _pdfium() -> Iterator[None]:
    """Hold PDFium; what it raises about the input is the input's fault (``InvalidPdf``)."""
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            yield
        except pdfium.PdfiumError as exc:
            raise InvalidPdf(f"cannot read the PDF: {exc}") from exc


class PdfSource:
    """An opened PDF and its selected pages (checked against the limits); renders them."""

    def __init__(self, doc: pdfium.PdfDocument, pages: list[PageInfo], dpi: int) -> None:
        self._doc = doc
        self.pages = pages
        self.scale = dpi / POINTS_PER_INCH

    @classmethod
    def open(cls, data: bytes, options: PdfOptions, limits: PdfLimits) -> PdfSource:
        if len(data) > limits.image.max_bytes:
            limit = limits.image.max_bytes
            raise PayloadTooLarge(f"PDF is {len(data)} bytes; the limit is {limit}")
        with _pdfium():
            doc = _open(data)
            try:
                pages = _pages(doc, options, limits)
            except BaseException:
                doc.close()
                raise
        return cls(doc, pages, options.dpi)

    def render(self, page: PageInfo) -> Image:
        """The page as BGR pixels at the chosen DPI (forms drawn, no annotations' UI)."""
        with _pdfium(), _closing(self._doc[page.number - 1]) as handle:
            bitmap = handle.render(scale=self.scale)
            pixels = np.array(bitmap.to_numpy()[:, :, :3], dtype=np.uint8, order="C")
            bitmap.close()
        return Image(pixels=pixels, format="PDF")

    def text(self, page: PageInfo) -> str:
        """The page's own text layer, as PDFium extracts it."""
        with _pdfium(), _closing(self._doc[page.number - 1]) as handle:
            text = handle.get_textpage()
            try:
                return str(text.get_text_bounded())
            finally:
                text.close()

    def close(self) -> None:
        with _PDFIUM:
            self._doc.close()


@contextmanager
def _closing(handle: T) -> Iterator[T]:
    """Close PDFium handles here, under the lock: left to the garbage collector, they would be
    closed from whichever thread it runs in, while another may be rendering."""
    try:
        yield handle
    finally:
        handle.close()


def _open(data: bytes) -> pdfium.PdfDocument:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code == _PASSWORD_ERROR:
            raise PdfEncrypted("the PDF needs a password to open: send it decrypted") from exc
        raise


def _pages(doc: pdfium.PdfDocument, options: PdfOptions, limits: PdfLimits) -> list[PageInfo]:
    count = len(doc)
    if count == 0:
        raise InvalidPdf("the PDF has no pages")
    numbers = select_pages(options.pages, count)
    if len(numbers) > limits.max_pages:
        raise TooManyPages(
            f"{len(numbers)} pages selected; this server reads at most {limits.max_pages} "
            "pages of one PDF: choose some with the pages option"
        )
    return [_page(doc, n, options.dpi, limits.image) for n in numbers]


def _page(doc: pdfium.PdfDocument, number: int, dpi: int, limits: DecodeLimits) -> PageInfo:
    with _closing(doc[number - 1]) as page:
        width_pt, height_pt = page.get_size()
        with _closing(page.get_textpage()) as text:
            has_text = text.count_chars() > 0
    scale = dpi / POINTS_PER_INCH
    width, height = _pixels(width_pt * scale), _pixels(height_pt * scale)
    side, pixels = max(width, height), width * height
    if side > limits.max_side or pixels > limits.max_pixels:
        raise ImageTooLarge(
            f"page {number} is {width_pt:.0f}x{height_pt:.0f} pt = {width}x{height} px at "
            f"{dpi} dpi; pages may be at most {limits.max_side} px a side and "
            f"{limits.max_pixels} px: ask for a lower dpi"
        )
    if min(width, height) < 1:
        raise InvalidPdf(f"page {number} has an empty size {width_pt}x{height_pt} pt")
    return PageInfo(number, width, height, has_text)


def _pixels(size: float) -> int:
    """PDFium's rendered size (pypdfium2 rounds up); a nonsense size is 0."""
    return math.ceil(size) if math.isfinite(size) and size > 0 else 0


Affine = tuple[float, float, float, float, float, float]


def pixel_to_page(data: bytes, rendered: list[tuple[int, int, int]]) -> list[Affine]:
    """For each rendered page ``(number, width, height)``: the PDF matrix ``[a b c d e f]`` that
    takes its pixels (x right, y down) to the page's own space, rotation and crop box included,
    as PDFium rendered it (what a text layer over the original page is written in)."""
    with _pdfium():
        doc = _open(data)
        try:
            return [_affine(doc, *page) for page in rendered]
        finally:
            doc.close()


def _affine(doc: pdfium.PdfDocument, number: int, width: int, height: int) -> Affine:
    with _closing(doc[number - 1]) as page:
        ox, oy = _device_to_page(page, width, height, 0, 0)
        xx, xy = _device_to_page(page, width, height, width, 0)
        yx, yy = _device_to_page(page, width, height, 0, height)
    return ((xx - ox) / width, (xy - oy) / width, (yx - ox) / height, (yy - oy) / height, ox, oy)


def _device_to_page(
    page: pdfium.PdfPage, width: int, height: int, x: int, y: int
) -> tuple[float, float]:
    import pypdfium2.raw as pdfium_c

    px, py = ctypes.c_double(), ctypes.c_double()
    pdfium_c.FPDF_DeviceToPage(page.raw, 0, 0, width, height, 0, x, y, px, py)
    return px.value, py.value
