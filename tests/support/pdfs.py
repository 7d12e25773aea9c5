"""PDFs made in the tests (no PDF is committed): pages from images, a page with a text layer,
and the hostile ones (truncated, encrypted, thousands of pages, a 20,000 x 20,000 pt page,
JavaScript, a broken xref)."""

from __future__ import annotations

import io

import pikepdf
from PIL import Image as PILImage

from tests.support.api import RECEIPT


def jpeg(path: str = str(RECEIPT), quality: int = 90) -> bytes:
    buf = io.BytesIO()
    with PILImage.open(path) as im:
        im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _saved(pdf: pikepdf.Pdf, **options: object) -> bytes:
    out = io.BytesIO()
    pdf.save(out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def _image_page(pdf: pikepdf.Pdf, data: bytes, dpi: float) -> pikepdf.Page:
    with PILImage.open(io.BytesIO(data)) as im:
        width, height = im.size
    image = pikepdf.Stream(
        pdf,
        data,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width,
        Height=height,
        ColorSpace=pikepdf.Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )
    w, h = width * 72 / dpi, height * 72 / dpi
    draw = f"q {w} 0 0 {h} 0 0 cm /Im0 Do Q".encode()
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, w, h],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, draw),
    )
    return pikepdf.Page(page)


def image_pdf(images: list[bytes], dpi: float = 200) -> bytes:
    """One page per JPEG, the page the image's size at ``dpi``."""
    pdf = pikepdf.new()
    for data in images:
        pdf.pages.append(_image_page(pdf, data, dpi))
    return _saved(pdf)


def receipt_pdf(pages: int = 2) -> bytes:
    return image_pdf([jpeg()] * pages)


def text_page_pdf(text: str = "Hello") -> bytes:
    """One A6 page with a (visible) Helvetica text layer."""
    pdf = pikepdf.new()
    font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
    )
    content = f"BT /F1 24 Tf 20 200 Td ({text}) Tj ET".encode()
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 298, 420],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
        Contents=pikepdf.Stream(pdf, content),
    )
    pdf.pages.append(pikepdf.Page(page))
    return _saved(pdf)


def blank_pdf(pages: int, size_pt: float = 200) -> bytes:
    """Empty pages (all one object: 5,000 pages stay small); any size, past the 14,400 pt
    that the PDF spec allows too."""
    pdf = pikepdf.new()
    page = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, size_pt, size_pt])
    )
    for _ in range(pages):
        pdf.pages.append(pikepdf.Page(page))
    return _saved(pdf)


def encrypted_pdf() -> bytes:
    pdf = pikepdf.open(io.BytesIO(receipt_pdf(1)))
    return _saved(pdf, encryption=pikepdf.Encryption(user="secret", owner="owner"))


def javascript_pdf() -> bytes:
    pdf = pikepdf.open(io.BytesIO(receipt_pdf(1)))
    action = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="while (true) {}")
    pdf.Root.OpenAction = pdf.make_indirect(action)
    return _saved(pdf)


def broken_xref_pdf() -> bytes:
    data = bytearray(receipt_pdf(1))
    at = data.rfind(b"startxref")
    data[at + 10 : at + 16] = b"999999"  # the xref offset points nowhere
    return bytes(data)


def hostile_pdfs() -> dict[str, tuple[bytes, set[str]]]:
    """Name -> (bytes, the outcomes allowed: an error code, or "OK")."""
    whole = receipt_pdf(1)
    return {
        "truncated": (whole[: len(whole) // 2], {"INVALID_PDF", "OK"}),
        "header-only": (b"%PDF-1.7\n", {"INVALID_PDF"}),
        "encrypted": (encrypted_pdf(), {"PDF_ENCRYPTED"}),
        "5000-pages": (blank_pdf(5000), {"TOO_MANY_PAGES"}),
        "20000pt-page": (blank_pdf(1, 20_000), {"IMAGE_TOO_LARGE"}),
        "javascript": (javascript_pdf(), {"OK"}),
        "broken-xref": (broken_xref_pdf(), {"OK", "INVALID_PDF"}),
    }
