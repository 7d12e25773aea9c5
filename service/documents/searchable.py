"""A result document + the bytes it was read from -> a searchable PDF: the original page images
(or the original PDF pages) with an invisible text layer whose words sit on the recogniser's
word boxes. pikepdf (qpdf) writes it.

- A PDF in keeps its own pages, objects and streams as they are (the pages read, in order); each
  gets a text layer appended, drawn in the pixels it was read at, mapped to the page's space by
  the matrix PDFium rendered with (rotation and crop box included).
- A JPEG in is embedded as it is (DCTDecode: not re-encoded) unless its EXIF orientation turns
  it; other images (and turned JPEGs) are embedded losslessly (Flate) from the decoded pixels.
  The page is the image at ``PdfOptions().dpi``, so reading the PDF back sees the same pixels.
- Text: render mode 3 (invisible), a glyph-less Type0 font whose CIDs are the characters used
  (ToUnicode maps them back), every glyph half an em wide: each word's text matrix stretches its
  glyphs over the word box, and an explicit space glyph fills the gap to the next word, so text
  extractors see the words, the spaces between them and one line per line.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pikepdf
from PIL import Image as PILImage

from service.documents.document import pages_of
from service.documents.errors import InvalidPdf, PdfEncrypted
from service.documents.options import PdfOptions
from service.documents.pdf import POINTS_PER_INCH, Affine, pixel_to_page
from service.documents.text_layer import GlyphlessFont, text_layer
from service.ocr.decode import decode_image, sniff_format

_ORIENTATION_TAG = 0x0112
_JPEG_SPACES = {"RGB": "/DeviceRGB", "L": "/DeviceGray"}


def searchable_pdf(doc: dict[str, Any], source: bytes) -> bytes:
    pages = pages_of(doc)
    if sniff_format(source) == "PDF":
        return _over_pdf(source, pages)
    return _over_image(source, pages[0])


def _over_pdf(source: bytes, pages: list[dict[str, Any]]) -> bytes:
    rendered = [(p["page"], p["image"]["width"], p["image"]["height"]) for p in pages]
    matrices = pixel_to_page(source, rendered)
    with _pikepdf(), pikepdf.open(io.BytesIO(source)) as pdf:
        font = GlyphlessFont()
        kept = [pdf.pages[p["page"] - 1] for p in pages]
        layers = [text_layer(p["lines"], m, font) for p, m in zip(pages, matrices, strict=True)]
        font_ref = pdf.make_indirect(font.dictionary(pdf))
        for page, layer in zip(kept, layers, strict=True):
            name = page.add_resource(font_ref, pikepdf.Name.Font, prefix="OcrText")
            page.contents_add(b"q\n", prepend=True)
            page.contents_add(b"\nQ\n" + layer.replace(b"/OcrFont", bytes(str(name), "ascii")))
        _keep_only(pdf, [p["page"] for p in pages])
        return _saved(pdf)


def _keep_only(pdf: pikepdf.Pdf, numbers: list[int]) -> None:
    """Drop the pages that were not read (qpdf leaves their objects out when saving)."""
    wanted = set(numbers)
    for index in reversed(range(len(pdf.pages))):
        if index + 1 not in wanted:
            del pdf.pages[index]


def _over_image(source: bytes, page: dict[str, Any]) -> bytes:
    width, height = page["image"]["width"], page["image"]["height"]
    scale = POINTS_PER_INCH / PdfOptions().dpi
    w_pt, h_pt = width * scale, height * scale
    pdf = pikepdf.new()
    font = GlyphlessFont()
    image = _image_stream(pdf, source)
    draw = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q\n".encode()
    matrix: Affine = (scale, 0.0, 0.0, -scale, 0.0, h_pt)
    layer = text_layer(page["lines"], matrix, font)
    resources = pikepdf.Dictionary(
        XObject=pikepdf.Dictionary(Im0=image),
        Font=pikepdf.Dictionary(OcrFont=pdf.make_indirect(font.dictionary(pdf))),
    )
    pdf.pages.append(
        pikepdf.Page(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Page,
                MediaBox=[0, 0, w_pt, h_pt],
                Resources=resources,
                Contents=pikepdf.Stream(pdf, draw + layer),
            )
        )
    )
    return _saved(pdf)


def _image_stream(pdf: pikepdf.Pdf, source: bytes) -> pikepdf.Stream:
    with PILImage.open(io.BytesIO(source)) as im:
        as_is = im.format == "JPEG" and im.mode in _JPEG_SPACES and _upright(im)
        mode, (width, height) = im.mode, im.size
    if as_is:
        space = pikepdf.Name(_JPEG_SPACES[mode])
        return _xobject(pdf, source, width, height, space, pikepdf.Name.DCTDecode)
    rgb = _rgb(source)
    data = zlib.compress(rgb.tobytes(), 6)
    return _xobject(pdf, data, rgb.shape[1], rgb.shape[0], pikepdf.Name.DeviceRGB, None)


def _xobject(
    pdf: pikepdf.Pdf,
    data: bytes,
    width: int,
    height: int,
    space: pikepdf.Name,
    encoded: pikepdf.Name | None,
) -> pikepdf.Stream:
    stream = pikepdf.Stream(
        pdf,
        data,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width,
        Height=height,
        ColorSpace=space,
        BitsPerComponent=8,
        Filter=encoded or pikepdf.Name.FlateDecode,
    )
    return stream


def _upright(im: PILImage.Image) -> bool:
    return im.getexif().get(_ORIENTATION_TAG, 1) in (1, None)


def _rgb(source: bytes) -> npt.NDArray[np.uint8]:
    """The decoded pixels (orientation, alpha and depth handled as the reading saw them), RGB."""
    bgr = decode_image(source).pixels
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _saved(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out, compress_streams=True)
    return out.getvalue()


@contextmanager
def _pikepdf() -> Iterator[None]:
    try:
        yield
    except pikepdf.PasswordError as exc:
        raise PdfEncrypted("the PDF needs a password to open: send it decrypted") from exc
    except pikepdf.PdfError as exc:
        raise InvalidPdf(f"cannot rewrite the PDF: {exc}") from exc
