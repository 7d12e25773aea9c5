"""bytes -> Image: format sniffing, size limits, EXIF orientation, alpha, one channel order.

Every image leaves here as BGR uint8 (H, W, 3), C-contiguous, whatever it was on disk. Anything
that goes wrong becomes one of the typed errors in ``service.ocr.errors``; nothing else escapes.

Decisions worth knowing:

- The format is sniffed from magic bytes only; Pillow is then told to use that one plugin.
- Dimensions are checked from the header before any pixel is decoded (decompression bombs);
  ``read_header`` does only that, so the server can admit a request by its decoded size first.
  Pillow's own global bomb guard (``MAX_IMAGE_PIXELS``) is left as it is; when it fires it is
  reported as ``ImageTooLarge`` too.
- A JPEG's scans are counted from its markers before decoding: each scan of a progressive JPEG
  is another pass over the whole image (~26 ms per scan at 36 Mpx here), and a 1 MB file can
  hold 20,000 of them. Over ``max_jpeg_scans`` it is refused (``InvalidImage``).
- Pixels are copied as few times as possible (the Pillow image is released before the colour
  conversion): peak memory while decoding is about 2x the decoded image, not 4x.
- Truncated files are errors. Pillow raises for them by default; if the process has switched on
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` we notice the decoder running out of bytes and still refuse.
- 16-bit samples keep their high byte (``>> 8``): a fixed, content-independent mapping, the same
  one Pillow applies to 16-bit RGB(A) PNG/TIFF. A one-channel image whose samples all fit in 8
  bits is 8-bit data in a wide container and is used as it is. Other 32-bit integer ranges, and
  floats outside [0, 1], are min-max stretched: they have no natural full scale.
- Transparent pixels are flattened onto white when the visible pixels are mostly dark and onto
  black when they are mostly light, so text keeps its contrast either way.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageFile

from service.ocr.errors import (
    ImageTooLarge,
    InvalidImage,
    OcrError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.ocr.types import Image, Pixels

log = logging.getLogger(__name__)

_SIGNATURES: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("JPEG", (b"\xff\xd8\xff",)),
    ("PNG", (b"\x89PNG\r\n\x1a\n",)),
    ("GIF", (b"GIF87a", b"GIF89a")),
    ("TIFF", (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),  # classic and BigTIFF
    ("BMP", (b"BM",)),
)
_PDF_SEARCH_BYTES = 1024  # readers accept "%PDF-" anywhere in the first KiB
_ORIENTATION_TAG = 0x0112
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_KEYED_MODES = frozenset({"P", "L", "RGB"})  # may carry a tRNS colour key or palette alpha
_STATS_CHUNK_PIXELS = 1 << 20

_ORIENT: dict[int, Callable[[Pixels], Pixels]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True)
class DecodeLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000  # width * height
    max_side: int = 16_384
    max_jpeg_scans: int = 64  # libjpeg's progressive script has 10; each costs a full pass


_DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True)
class Header:
    """What an image's header says, checked against the limits; nothing decoded yet."""

    format: str
    width: int
    height: int
    bytes_per_pixel: int  # memory decode_image holds at its peak, per pixel (_peak_per_pixel)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decode_bytes(self) -> int:
        return self.pixels * self.bytes_per_pixel


def sniff_format(data: bytes) -> str | None:
    """The container format named by the leading magic bytes, or None if unknown."""
    head = bytes(data[:16])
    for name, magics in _SIGNATURES:
        if head.startswith(magics):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if b"%PDF-" in data[:_PDF_SEARCH_BYTES]:
        return "PDF"
    return None


def decode_image(data: bytes, limits: DecodeLimits = _DEFAULT_LIMITS) -> Image:
    """Decode image bytes into BGR uint8 pixels, enforcing ``limits`` before decoding."""
    fmt = _check_input(data, limits)
    with _errors_of(fmt):
        pixels = _decode(data, fmt, limits)
    return Image(pixels=pixels, format=fmt)


def read_header(data: bytes, limits: DecodeLimits = _DEFAULT_LIMITS) -> Header:
    """The format and size from the header alone, with every check ``decode_image`` makes
    before it decodes (bytes, format, sides, pixels, JPEG scans)."""
    fmt = _check_input(data, limits)
    with _errors_of(fmt), PILImage.open(io.BytesIO(data), formats=[fmt]) as im:
        _check_size(im.size, limits)
        _check_scans(data, fmt, limits)
        return Header(fmt, *im.size, _peak_per_pixel(fmt, im))


def _peak_per_pixel(fmt: str, im: PILImage.Image) -> int:
    """Peak bytes per pixel while decoding, measured on 40 Mpx images (docs/benchmarks.md):
    RGB or grey 6.9 (the Pillow image and our array), alpha 11.7 (an RGBA copy and the
    compositing), WebP 15 (Pillow's WebP decoder copies its frame)."""
    if fmt == "WEBP":
        return 16
    mode = im.mode
    if mode in _ALPHA_MODES or "transparency" in im.info or mode == "F" or mode.startswith("I"):
        return 12
    return 7


@contextmanager
def _errors_of(fmt: str) -> Iterator[None]:
    """Anything a decoder raises is the input's fault: one of the typed errors."""
    try:
        yield
    except OcrError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"{fmt} image has too many pixels: {e}") from e
    except MemoryError as e:
        raise ImageTooLarge(f"{fmt} image is too large to decode in memory") from e
    except Exception as e:
        raise InvalidImage(f"cannot decode {fmt} image: {e}") from e


def _check_input(data: bytes, limits: DecodeLimits) -> str:
    if len(data) == 0:
        raise InvalidImage("request body is empty; expected image bytes")
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {limits.max_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidImage("not a recognised image (expected JPEG, PNG, WebP, BMP, TIFF or GIF)")
    if fmt == "PDF":
        raise UnsupportedMediaType(
            "PDF input is not supported by decode_image; rasterise the pages first"
        )
    return fmt


class _TrackedStream(io.BytesIO):
    """A BytesIO that notes when a reader asked for bytes past the end."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.ran_dry = False

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if not chunk and size != 0:
            self.ran_dry = True
        return chunk


def _decode(data: bytes, fmt: str, limits: DecodeLimits) -> Pixels:
    stream = _TrackedStream(data)
    with PILImage.open(stream, formats=[fmt]) as im:  # reads the header only
        _check_size(im.size, limits)
        _check_scans(data, fmt, limits)
        stream.ran_dry = False
        im.load()
        if stream.ran_dry and ImageFile.LOAD_TRUNCATED_IMAGES:
            raise InvalidImage(f"{fmt} image data is truncated")
        orientation = _exif_orientation(im)
        samples, kind = _samples(im)
        im.close()  # the decoded image's memory, before the conversion makes another copy
    pixels = _to_bgr(samples, kind)
    del samples
    oriented = _ORIENT[orientation](pixels) if orientation in _ORIENT else pixels
    return np.ascontiguousarray(oriented)


def _check_size(size: tuple[int, int], limits: DecodeLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise InvalidImage(f"image declares an empty size {width}x{height}")
    if max(width, height) > limits.max_side:
        raise ImageTooLarge(
            f"image is {width}x{height}; the longest side may be at most {limits.max_side} px"
        )
    if width * height > limits.max_pixels:
        pixels = width * height
        raise ImageTooLarge(
            f"image is {width}x{height} = {pixels} pixels; over {limits.max_pixels}"
        )


# entropy-coded data ends at a marker: 0xFF followed by neither a stuffed 0x00 nor a restart
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
SOS, EOI = 0xDA, 0xD9


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each JPEG marker segment after SOI, a scan (SOS) with its
    entropy-coded data; bytes between segments are skipped, as libjpeg does. Linear time."""
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF or data[pos + 1] == 0xFF:  # garbage or fill bytes
            found = _NEXT_MARKER.search(data, pos + 1)
            if found is None:
                return
            pos = found.start()
            continue
        marker = data[pos + 1]
        end = pos + 2 if marker in _STANDALONE or marker == EOI else _segment_end(data, pos)
        yield marker, pos, end
        if marker == EOI:
            return
        pos = end


def _segment_end(data: bytes, pos: int) -> int:
    end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    if data[pos + 1] == SOS:
        found = _NEXT_MARKER.search(data, end)
        end = found.start() if found else len(data)
    return max(end, pos + 2)


def _check_scans(data: bytes, fmt: str, limits: DecodeLimits) -> None:
    if fmt != "JPEG":
        return
    scans = 0
    for marker, _, _ in jpeg_segments(data):
        scans += marker == SOS
        if scans > limits.max_jpeg_scans:
            raise InvalidImage(
                f"JPEG has more than {limits.max_jpeg_scans} scans; each one is another pass "
                "over the whole image (re-encode it as baseline or with fewer scans)"
            )


def _exif_orientation(im: PILImage.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # broken EXIF must not cost the user good pixels
        log.debug("ignoring unreadable EXIF block", exc_info=True)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _samples(im: PILImage.Image) -> tuple[npt.NDArray[Any], str]:
    """The decoded samples as an array, converted only where needed, and their kind: RGBA,
    WIDE (one channel of 16/32-bit or float samples), L or RGB."""
    mode = im.mode
    if mode in _ALPHA_MODES or (mode in _KEYED_MODES and "transparency" in im.info):
        return _array(im.convert("RGBA")), "RGBA"
    if mode == "F" or mode.startswith("I"):
        return np.asarray(im), "WIDE"
    if mode in ("1", "L"):
        return _array(im if mode == "L" else im.convert("L")), "L"
    return _array(im if mode == "RGB" else im.convert("RGB")), "RGB"


def _array(im: PILImage.Image) -> Pixels:
    """``np.asarray(im)`` for 8-bit modes, strip by strip: asarray goes through ``tobytes``,
    which holds the pixels twice more while it joins its chunks."""
    width, height = im.size
    bands = len(im.getbands())
    out = np.empty((height, width, bands) if bands > 1 else (height, width), np.uint8)
    rows = max(1, _STATS_CHUNK_PIXELS // width)
    for y in range(0, height, rows):
        out[y : y + rows] = np.asarray(im.crop((0, y, width, min(height, y + rows))))
    return out


def _to_bgr(samples: npt.NDArray[Any], kind: str) -> Pixels:
    if kind == "RGBA":
        return _flatten_alpha(samples)
    if kind == "WIDE":
        return _u8(cv2.cvtColor(_scale_to_uint8(samples), cv2.COLOR_GRAY2BGR))
    if kind == "L":
        return _u8(cv2.cvtColor(samples, cv2.COLOR_GRAY2BGR))
    return _u8(cv2.cvtColor(samples, cv2.COLOR_RGB2BGR, dst=samples))  # in place


def _flatten_alpha(rgba: Pixels) -> Pixels:
    """Composite RGBA onto white (dark foreground) or black (light foreground); returns BGR."""
    bgr = _u8(cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR))
    alpha = np.ascontiguousarray(rgba[..., 3])
    if alpha.min() == 255:
        return bgr
    alpha3 = _u8(cv2.merge([alpha, alpha, alpha]))
    if _foreground_is_dark(rgba, alpha):  # onto white: 255 - (255 - c) * a
        inverted = cv2.multiply(cv2.bitwise_not(bgr), alpha3, scale=1 / 255)
        return _u8(cv2.bitwise_not(inverted))
    return _u8(cv2.multiply(bgr, alpha3, scale=1 / 255))  # onto black: c * a


def _foreground_is_dark(rgba: Pixels, alpha: Pixels) -> bool:
    """Alpha-weighted mean luminance of the image below mid-grey (bounded memory)."""
    luma = cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY)
    rows = max(1, _STATS_CHUNK_PIXELS // alpha.shape[1])
    weighted = total = 0.0
    for y in range(0, alpha.shape[0], rows):
        a = alpha[y : y + rows].astype(np.float32)
        weighted += float(np.dot(luma[y : y + rows].ravel(), a.ravel()))
        total += float(a.sum())
    return total == 0 or weighted / total < 128


def _scale_to_uint8(samples: npt.NDArray[Any]) -> Pixels:
    """One channel of 16/32-bit integer or float samples -> uint8 (rules in the module doc)."""
    if samples.dtype.kind == "f":
        floats = np.nan_to_num(samples.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if floats.min() >= 0 and floats.max() <= 1:
            return np.rint(floats * 255).astype(np.uint8)
        return _stretch(floats)
    values = samples.astype(samples.dtype.newbyteorder("="))  # I;16B arrives big-endian
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi <= 0xFF:
        return values.astype(np.uint8)
    if lo >= 0 and hi <= 0xFFFF:
        return (values >> 8).astype(np.uint8)
    return _stretch(values)


def _stretch(values: npt.NDArray[Any]) -> Pixels:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - lo) * np.float32(255.0 / (hi - lo))
    return np.rint(scaled).astype(np.uint8)


def _u8(array: Any) -> Pixels:
    return np.asarray(array, dtype=np.uint8)
