"""decode_image: every input is generated here with Pillow/numpy/OpenCV; no files, no network."""

from __future__ import annotations

import io
import struct
import time
import zlib
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import ImageFile, ImageOps

from service.ocr.decode import DecodeLimits, decode_image, sniff_format
from service.ocr.errors import (
    ImageTooLarge,
    InvalidImage,
    OcrError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.ocr.types import Image

H, W = 40, 60  # quadrant test image: TL red, TR green, BL blue, BR white (RGB)
RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
TYPED_ERRORS = (InvalidImage, UnsupportedMediaType, ImageTooLarge, PayloadTooLarge)
ORIENTATION = 0x0112


def quadrants() -> PILImage.Image:
    arr = np.zeros((H, W, 3), np.uint8)
    arr[: H // 2, : W // 2] = RED
    arr[: H // 2, W // 2 :] = GREEN
    arr[H // 2 :, : W // 2] = BLUE
    arr[H // 2 :, W // 2 :] = WHITE
    return PILImage.fromarray(arr)


def encode(im: PILImage.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def with_orientation(im: PILImage.Image, fmt: str, orientation: int) -> bytes:
    exif = PILImage.Exif()
    exif[ORIENTATION] = orientation
    return encode(im, fmt, exif=exif.tobytes())


def assert_valid(image: Image) -> None:
    px = image.pixels
    assert px.dtype == np.uint8 and px.ndim == 3 and px.shape[2] == 3
    assert px.flags["C_CONTIGUOUS"]


def assert_rgb(image: Image, y: int, x: int, rgb: tuple[int, int, int], tol: int = 0) -> None:
    """Pixel (y, x) has colour ``rgb``; the array itself is BGR."""
    got = image.pixels[y, x].astype(int)
    want = np.array(rgb[::-1])
    assert np.abs(got - want).max() <= tol, f"pixel ({y},{x}) is BGR {got}, want BGR {want}"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed small PNG whose IHDR claims width x height (CRCs correct)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "JPEG"),
        (b"\x89PNG\r\n\x1a\nrest", "PNG"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"BM\x00\x00", "BMP"),
        (b"II*\x00rest", "TIFF"),
        (b"MM\x00*rest", "TIFF"),
        (b"II+\x00rest", "TIFF"),
        (b"GIF87a...", "GIF"),
        (b"GIF89a...", "GIF"),
        (b"%PDF-1.7\n", "PDF"),
        (b"\r\n junk before %PDF-1.4\n", "PDF"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"<html></html>", None),
        (b"", None),
    ],
)
def test_sniff_format(data: bytes, expected: str | None) -> None:
    assert sniff_format(data) == expected


# --- formats and colours --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kw", "tol"),
    [
        ("JPEG", {"quality": 95}, 12),
        ("PNG", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 20),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("TIFF", {"compression": "tiff_lzw"}, 0),
        ("GIF", {}, 0),
    ],
)
def test_each_format_decodes_to_bgr(fmt: str, kw: dict[str, Any], tol: int) -> None:
    image = decode_image(encode(quadrants(), fmt, **kw))
    assert_valid(image)
    assert image.format == fmt
    assert (image.height, image.width) == (H, W)
    assert_rgb(image, 5, 5, RED, tol)
    assert_rgb(image, 5, W - 5, GREEN, tol)
    assert_rgb(image, H - 5, 5, BLUE, tol)
    assert_rgb(image, H - 5, W - 5, WHITE, tol)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_one_pixel_image(fmt: str) -> None:
    image = decode_image(encode(PILImage.new("RGB", (1, 1), (0, 0, 255)), fmt))
    assert image.pixels.shape == (1, 1, 3)
    assert_rgb(image, 0, 0, BLUE, tol=8 if fmt in ("JPEG", "WEBP") else 0)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "WEBP"])
def test_multi_frame_uses_first_frame(fmt: str) -> None:
    frames = [PILImage.new("RGB", (8, 6), c) for c in (RED, BLUE, GREEN)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], lossless=True)
    image = decode_image(data)
    assert image.pixels.shape == (6, 8, 3)
    assert_rgb(image, 3, 4, RED)


# --- EXIF orientation -----------------------------------------------------------------------

# Where the stored top-left (red) and top-right (green) quadrants are displayed.
JPEG_ORIENTATIONS = [
    (3, (H, W), {"red": "BR", "green": "BL"}),
    (6, (W, H), {"red": "TR", "green": "BR"}),
    (8, (W, H), {"red": "BL", "green": "TL"}),
    (1, (H, W), {"red": "TL", "green": "TR"}),
]


@pytest.mark.parametrize(("orientation", "shape", "where"), JPEG_ORIENTATIONS)
def test_jpeg_exif_orientation(
    orientation: int, shape: tuple[int, int], where: dict[str, str]
) -> None:
    image = decode_image(with_orientation(quadrants(), "JPEG", orientation))
    assert (image.height, image.width) == shape
    h, w = shape
    corner = {"TL": (5, 5), "TR": (5, w - 5), "BL": (h - 5, 5), "BR": (h - 5, w - 5)}
    assert_rgb(image, *corner[where["red"]], RED, tol=12)
    assert_rgb(image, *corner[where["green"]], GREEN, tol=12)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_pillow(orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    src = PILImage.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    data = with_orientation(src, "PNG", orientation)
    reference = ImageOps.exif_transpose(PILImage.open(io.BytesIO(data)))
    expected = np.asarray(reference.convert("RGB"))[..., ::-1]
    got = decode_image(data).pixels
    assert got.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_out_of_range_orientation_is_ignored(orientation: int) -> None:
    image = decode_image(with_orientation(quadrants(), "PNG", orientation))
    assert (image.height, image.width) == (H, W)
    assert_rgb(image, 5, 5, RED)


def test_broken_exif_block_is_ignored() -> None:
    jpeg = encode(quadrants(), "JPEG", quality=95)
    app1 = b"Exif\x00\x00" + b"MM\x00*\xff\xff\xff\xff" + b"\x13" * 20
    data = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    image = decode_image(data)
    assert (image.height, image.width) == (H, W)
    assert_rgb(image, 5, 5, RED, tol=12)


# --- alpha ------------------------------------------------------------------------------------


def ink_on_transparent(mode: str, ink: int) -> bytes:
    """A 20x30 image, fully transparent except an opaque ink block and a half-alpha pixel."""
    la = np.zeros((20, 30, 2), np.uint8)
    la[..., 0] = 255 - ink  # colour under alpha=0 is irrelevant; make it the opposite
    la[5:15, 5:25] = (ink, 255)
    la[0, 0] = (ink, 128)
    src = PILImage.fromarray(la, "LA")
    if mode == "LA":
        return encode(src, "PNG")
    if mode == "RGBA":
        return encode(src.convert("RGBA"), "PNG")
    pal = PILImage.new("P", (30, 20), 0)
    pal.putpalette([255 - ink] * 3 + [ink] * 3)
    pal.paste(1, (5, 5, 25, 15))
    fmt = "GIF" if mode == "GIF" else "PNG"
    return encode(pal, fmt, transparency=0)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "GIF"])
@pytest.mark.parametrize(("ink", "background"), [(0, WHITE), (255, BLACK)])
def test_alpha_flattened_onto_contrasting_background(
    mode: str, ink: int, background: tuple[int, int, int]
) -> None:
    image = decode_image(ink_on_transparent(mode, ink))
    assert_valid(image)
    assert_rgb(image, 10, 15, (ink, ink, ink))  # the ink keeps its colour
    assert_rgb(image, 18, 2, background)  # transparent -> contrasting background
    if mode in ("RGBA", "LA"):
        assert_rgb(image, 0, 0, (128, 128, 128), tol=1)  # half alpha blends halfway


def test_grey_with_transparent_key_colour() -> None:
    arr = np.full((10, 10), 255, np.uint8)
    arr[3:7, 3:7] = 0
    image = decode_image(encode(PILImage.fromarray(arr), "PNG", transparency=255))
    assert_rgb(image, 5, 5, BLACK)
    assert_rgb(image, 0, 0, WHITE)


def test_opaque_rgba_is_untouched() -> None:
    image = decode_image(encode(quadrants().convert("RGBA"), "PNG"))
    assert_rgb(image, 5, 5, RED)
    assert_rgb(image, H - 5, W - 5, WHITE)


def test_fully_transparent_image_becomes_white() -> None:
    image = decode_image(encode(PILImage.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG"))
    assert (image.pixels == 255).all()


# --- modes and bit depths -------------------------------------------------------------------


def test_grayscale_png() -> None:
    arr = np.array([[0, 100], [200, 255]], np.uint8)
    image = decode_image(encode(PILImage.fromarray(arr), "PNG"))
    np.testing.assert_array_equal(image.pixels, np.repeat(arr[..., None], 3, axis=2))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP", "GIF"])
def test_one_bit_image(fmt: str) -> None:
    im = PILImage.new("1", (16, 8), 1)
    im.paste(0, (0, 0, 8, 8))
    image = decode_image(encode(im, fmt))
    assert_rgb(image, 4, 4, BLACK)
    assert_rgb(image, 4, 12, WHITE)


def test_palette_png() -> None:
    im = PILImage.new("P", (4, 4), 0)
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.paste(1, (2, 0, 4, 4))
    image = decode_image(encode(im, "PNG"))
    assert_rgb(image, 1, 1, (10, 20, 30))
    assert_rgb(image, 1, 3, (200, 100, 50))


@pytest.mark.parametrize(("fmt", "tol"), [("JPEG", 12), ("TIFF", 0)])
def test_cmyk(fmt: str, tol: int) -> None:
    im = PILImage.new("CMYK", (16, 16), (0, 0, 0, 0))
    im.paste((0, 255, 255, 0), (0, 0, 8, 16))
    image = decode_image(encode(im, fmt))
    assert_rgb(image, 8, 3, RED, tol)
    assert_rgb(image, 8, 12, WHITE, tol)


SIXTEEN = np.array([[0, 0x00FF, 0x1234], [0x8000, 0xFF00, 0xFFFF]], np.uint16)


@pytest.mark.parametrize(
    ("fmt", "dtype"), [("PNG", "<u2"), ("TIFF", "<u2"), ("TIFF", ">u2"), ("cv2.png", "<u2")]
)
def test_16_bit_grey_keeps_high_byte(fmt: str, dtype: str) -> None:
    arr = SIXTEEN.astype(dtype)
    if fmt == "cv2.png":
        data = cv2.imencode(".png", arr.astype(np.uint16))[1].tobytes()
    else:
        data = encode(PILImage.fromarray(arr), fmt)
    image = decode_image(data)
    np.testing.assert_array_equal(image.pixels[..., 0], SIXTEEN >> 8)
    assert (image.pixels == image.pixels[..., :1]).all()


def test_16_bit_grey_with_8_bit_values_is_not_darkened() -> None:
    arr = np.array([[0, 100, 255]], np.uint16)
    image = decode_image(encode(PILImage.fromarray(arr), "PNG"))
    np.testing.assert_array_equal(image.pixels[0, :, 0], [0, 100, 255])


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_colour_keeps_high_byte(ext: str) -> None:
    bgr16 = np.zeros((2, 3, 3), np.uint16)
    bgr16[0, 0] = (0x1000, 0x8000, 0xFFFF)
    bgr16[1, 2] = (0xFF00, 0x00FF, 0x7F80)
    image = decode_image(cv2.imencode(ext, bgr16)[1].tobytes())
    np.testing.assert_array_equal(image.pixels, bgr16 >> 8)  # already BGR on both sides


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0, float("nan")], [0, 128, 255, 0]),  # [0, 1] -> x255
        ([-1.0, 0.0, 3.0, 1.0], [0, 64, 255, 128]),  # no natural scale -> min-max
        ([7.0, 7.0, 7.0, 7.0], [0, 0, 0, 0]),  # constant, out of [0, 1]
    ],
)
def test_float_tiff(values: list[float], expected: list[int]) -> None:
    arr = np.array([values], np.float32)
    image = decode_image(encode(PILImage.fromarray(arr), "TIFF"))
    np.testing.assert_array_equal(image.pixels[0, :, 0], expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 0x1234, 0xFFFF], [0, 0x12, 0xFF]),  # 16-bit range -> >> 8
        ([-100, 0, 100], [0, 128, 255]),  # outside it -> min-max
    ],
)
def test_32_bit_int_tiff(values: list[int], expected: list[int]) -> None:
    arr = np.array([values], np.int32)
    image = decode_image(encode(PILImage.fromarray(arr), "TIFF"))
    np.testing.assert_array_equal(image.pixels[0, :, 0], expected)


# --- errors ---------------------------------------------------------------------------------


def test_empty_body() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        decode_image(b"")


def test_unknown_bytes() -> None:
    with pytest.raises(InvalidImage, match="not a recognised image"):
        decode_image(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))


def test_pdf_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType, match="PDF input is not supported"):
        decode_image(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")


def test_over_max_bytes() -> None:
    data = encode(quadrants(), "PNG")
    with pytest.raises(PayloadTooLarge):
        decode_image(data, DecodeLimits(max_bytes=len(data) - 1))
    decode_image(data, DecodeLimits(max_bytes=len(data)))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_corrupt_body_after_valid_magic(fmt: str) -> None:
    data = encode(quadrants(), fmt)
    magic_len = 12 if fmt == "WEBP" else 4
    with pytest.raises(InvalidImage):
        decode_image(data[:magic_len] + b"\x5a" * 200)


@pytest.mark.parametrize("load_truncated", [False, True])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_truncated_file_is_an_error(
    fmt: str, load_truncated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even if someone switched on Pillow's global "pad truncated images", we refuse them.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    rng = np.random.default_rng(2)
    noisy = PILImage.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(InvalidImage):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize("pillow_guard", [True, False])
def test_huge_declared_png_is_refused_before_decoding(
    pillow_guard: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = png_declaring(200_000, 200_000)
    if not pillow_guard:  # our own header check must hold without Pillow's global one
        monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", None)
        assert PILImage.open(io.BytesIO(data)).size == (200_000, 200_000)  # the header parses
    assert len(data) < 200
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=r"too many pixels|200000x200000"):
        decode_image(data)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("width", "height", "limits"),
    [
        (20_000, 10, DecodeLimits()),  # over max_side, few pixels
        (10, 20_000, DecodeLimits()),
        (8_000, 8_000, DecodeLimits()),  # 64 M pixels > 40 M (below Pillow's own guard)
        (61, 10, DecodeLimits(max_side=60)),
        (10, 10, DecodeLimits(max_pixels=99)),
        # Limits looser than Pillow's global bomb guard: Pillow's error still maps to ours.
        (200_000, 200_000, DecodeLimits(max_pixels=10**12, max_side=10**6)),
    ],
)
def test_dimension_limits(width: int, height: int, limits: DecodeLimits) -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(png_declaring(width, height), limits)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_bomb_warning_escalated_to_error_is_image_too_large() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(png_declaring(10_000, 10_000), DecodeLimits(max_pixels=10**9))


def test_zero_width_header() -> None:
    with pytest.raises(InvalidImage):
        decode_image(png_declaring(0, 10))


def test_limits_are_inclusive() -> None:
    image = decode_image(encode(quadrants(), "PNG"), DecodeLimits(max_side=W, max_pixels=H * W))
    assert (image.height, image.width) == (H, W)


# --- property: nothing but typed errors escapes ---------------------------------------------

SMALL = DecodeLimits(max_pixels=1_000_000, max_side=4096)
MAGICS = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM"]
MAGICS += [b"RIFF\x00\x01\x00\x00WEBPVP8 ", b"RIFF\x00\x01\x00\x00WEBPVP8L", b"%PDF-", b""]
PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _samples() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    im = PILImage.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    out = {fmt: encode(im, fmt) for fmt in ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")}
    out["RGBA-PNG"] = encode(im.convert("RGBA"), "PNG")
    out["EXIF-JPEG"] = with_orientation(im, "JPEG", 6)
    return out


SAMPLES = _samples()


def _decode_or_typed_error(data: bytes) -> None:
    try:
        image = decode_image(data, SMALL)
    except OcrError as e:
        assert isinstance(e, TYPED_ERRORS), type(e)
        assert e.message
        return
    assert_valid(image)


@PROPERTY
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_typed_errors(magic: bytes, tail: bytes) -> None:
    _decode_or_typed_error(magic + tail)


@PROPERTY
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_damaged_images_raise_only_typed_errors(
    name: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(SAMPLES[name])
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _decode_or_typed_error(bytes(data))
