"""The images a load test sends: real dataset pages and crops, or a bundled fallback.

Four scenarios, each a kind of client we serve:

- ``receipts``: scanned receipts (``sroie_train_dev``: 875 to 7,016 px scans, JPEG);
- ``forms``: noisy scanned forms (``funsd_train``: 1,000 px pages, PNG), asked for plain text;
- ``scene``: scene photos with multi-oriented text (``msra_td500_train``: up to 1,600 px, JPEG);
- ``crops``: small word and line crops (``iiit5k_train`` scene words, ``sroie_train_line_crops``).

Every image also gets a size class from its longest side (``small`` ≤ 640 px < ``medium`` ≤
1,600 px < ``large``). A request picks a scenario by its weight (``--mix``), then a size class
of that scenario with probability proportional to (images of that class × its ``--sizes``
weight; all 1 = the corpus's own size mix), then an image of that class at random.

The datasets are read, by path, from ``OCR_LOADTEST_DATA`` (default ``../shared/datasets``
beside the repository) and never copied. Without them (or with ``--corpus bundled``) the corpus
is ``samples/receipt.png`` plus pages, photos and crops rendered here with Pillow, so a smoke
test needs nothing outside the repository.

Cache busting: the service caches by sha256(image bytes) + options, so ``bust()`` makes the
bytes unique without touching a pixel: a PNG gets a ``tEXt`` chunk before ``IEND``, a JPEG a
``COM`` (comment) segment after ``SOI``; both are ignored by every decoder (checked against the
service's own ``decode_image`` in tests/deploy/test_loadtest.py).
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets"
RECEIPT = REPO_ROOT / "samples" / "receipt.png"

SCENARIOS = ("receipts", "forms", "scene", "crops")
SIZES = ("small", "medium", "large")
DEFAULT_MIX = {"receipts": 4.0, "forms": 2.0, "scene": 2.0, "crops": 2.0}
DEFAULT_SIZES = {"small": 1.0, "medium": 1.0, "large": 1.0}

# Per-scenario request options (the multipart ``options`` field): what such a client would ask.
SCENARIO_OPTIONS: dict[str, dict[str, object]] = {
    "receipts": {},
    "forms": {"format": "text"},
    "scene": {},
    "crops": {},
}

# scenario -> dataset folders under the data root
SOURCES: dict[str, tuple[str, ...]] = {
    "receipts": ("sroie_train_dev",),
    "forms": ("funsd_train",),
    "scene": ("msra_td500_train",),
    "crops": ("iiit5k_train", "sroie_train_line_crops"),
}

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def size_class(width: int, height: int) -> str:
    side = max(width, height)
    if side <= 640:
        return "small"
    return "medium" if side <= 1600 else "large"


@dataclass(frozen=True)
class Sample:
    scenario: str
    size: str
    name: str
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass
class Corpus:
    source: str  # "datasets:<root>" or "bundled"
    buckets: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def add(self, sample: Sample) -> None:
        self.buckets.setdefault((sample.scenario, sample.size), []).append(sample)

    @property
    def samples(self) -> list[Sample]:
        return [s for bucket in self.buckets.values() for s in bucket]

    def weighted_buckets(
        self, mix: Mapping[str, float], sizes: Mapping[str, float]
    ) -> tuple[list[tuple[str, str]], list[float]]:
        """Each scenario gets its ``mix`` share of the requests; within it, a size class gets
        a share proportional to (its number of images × its ``sizes`` weight)."""
        keys: list[tuple[str, str]] = []
        weights: list[float] = []
        for scenario in sorted({s for s, _ in self.buckets}):
            raw = {
                key: len(bucket) * sizes.get(key[1], 0.0)
                for key, bucket in sorted(self.buckets.items())
                if key[0] == scenario
            }
            total = sum(raw.values())
            share = mix.get(scenario, 0.0)
            if total <= 0 or share <= 0:
                continue
            for key, r in raw.items():
                if r > 0:
                    keys.append(key)
                    weights.append(share * r / total)
        return keys, weights

    def summary(self) -> str:
        parts = [f"{s}/{z}={len(b)}" for (s, z), b in sorted(self.buckets.items())]
        mb = sum(len(s.data) for s in self.samples) / 1e6
        return f"corpus {self.source}: {len(self.samples)} images, {mb:.1f} MB ({', '.join(parts)})"


class Picker:
    """Chooses the next sample: a bucket by weight, then an image of it uniformly."""

    def __init__(
        self,
        corpus: Corpus,
        mix: Mapping[str, float],
        sizes: Mapping[str, float],
        seed: int | None = None,
    ) -> None:
        self.keys, self.weights = corpus.weighted_buckets(mix, sizes)
        if not self.keys:
            raise ValueError(
                f"no image left after --mix {dict(mix)} and --sizes {dict(sizes)}; "
                f"{corpus.summary()}"
            )
        self.corpus = corpus
        self.rng = random.Random(seed)

    def fork(self, seed: int | None) -> Picker:
        """The same choice, with its own random stream (one per locust user)."""
        twin = Picker.__new__(Picker)
        twin.keys, twin.weights, twin.corpus = self.keys, self.weights, self.corpus
        twin.rng = random.Random(seed)
        return twin

    def shares(self) -> list[tuple[tuple[str, str], float]]:
        total = sum(self.weights)
        return [(k, w / total) for k, w in zip(self.keys, self.weights, strict=True)]

    def next(self) -> Sample:
        key = self.rng.choices(self.keys, self.weights)[0]
        return self.rng.choice(self.corpus.buckets[key])


def parse_weights(
    text: str, allowed: Iterable[str], defaults: Mapping[str, float]
) -> dict[str, float]:
    """``"receipts=3,crops=1"`` -> weights; names not given keep their default, ``only:`` prefix
    zeroes every name not given (``only:receipts`` = receipts alone)."""
    names = tuple(allowed)
    text = text.strip()
    only = text.startswith("only:")
    if only:
        text = text[len("only:") :]
    out = dict.fromkeys(names, 0.0) if only else {k: float(v) for k, v in defaults.items()}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if name not in names:
            raise ValueError(f"unknown name {name!r} in {text!r}; expected one of {names}")
        try:
            weight = float(value) if sep else 1.0
        except ValueError as exc:
            raise ValueError(f"bad weight in {part!r}") from exc
        if weight < 0:
            raise ValueError(f"negative weight in {part!r}")
        out[name] = weight
    return out


# -- loading -----------------------------------------------------------------------------------


def load_corpus(kind: str = "auto", data_dir: str | None = None, limit: int = 60) -> Corpus:
    """``kind``: ``auto`` (datasets when present, else bundled), ``datasets`` (must be present)
    or ``bundled``. ``limit``: images per dataset folder (spread evenly over its labels)."""
    root = Path(data_dir or os.environ.get("OCR_LOADTEST_DATA") or DEFAULT_DATA)
    if kind not in ("auto", "datasets", "bundled"):
        raise ValueError(f"corpus {kind!r}: expected auto, datasets or bundled")
    if kind == "bundled" or (kind == "auto" and not _has_datasets(root)):
        return bundled_corpus()
    if not _has_datasets(root):
        raise FileNotFoundError(f"no datasets under {root} (set OCR_LOADTEST_DATA)")
    corpus = Corpus(source=f"datasets:{root}")
    fallback: Corpus | None = None
    for scenario, folders in SOURCES.items():
        found = False
        for folder in folders:
            for path in _dataset_images(root / folder, limit):
                corpus.add(_sample(scenario, path.name, path.read_bytes()))
                found = True
        if not found:  # a partial copy of the datasets: render this scenario instead
            fallback = fallback or bundled_corpus()
            for s in fallback.samples:
                if s.scenario == scenario:
                    corpus.add(s)
    return corpus


def _has_datasets(root: Path) -> bool:
    return any((root / f / "labels.jsonl").is_file() for fs in SOURCES.values() for f in fs)


def _dataset_images(folder: Path, limit: int) -> list[Path]:
    labels = folder / "labels.jsonl"
    if not labels.is_file():
        return []
    with labels.open(encoding="utf-8") as fh:
        paths = [folder / json.loads(line)["image"] for line in fh if line.strip()]
    if limit > 0 and len(paths) > limit:
        step = len(paths) / limit
        paths = [paths[int(i * step)] for i in range(limit)]
    return [p for p in paths if p.is_file()]


def _sample(scenario: str, name: str, data: bytes) -> Sample:
    with Image.open(io.BytesIO(data)) as im:
        fmt, (w, h) = im.format or "", im.size
    if fmt not in CONTENT_TYPES:  # send what the service reads best; keep the pixels
        with Image.open(io.BytesIO(data)) as im:
            data, fmt = _encode(im.convert("RGB"), "PNG"), "PNG"
    return Sample(scenario, size_class(w, h), name, data, CONTENT_TYPES[fmt], w, h)


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


# -- the bundled corpus: samples/receipt.png + images rendered with Pillow ----------------------

WORDS = ("TOTAL", "Invoice", "CASH", "Springfield", "08/11/2026", "RM 42.50", "Harbour", "OPEN")
FORM_FIELDS = (
    ("Name", "Jane Q. Public"),
    ("Date", "24 November 2026"),
    ("Account No.", "0042-7781-0093"),
    ("Department", "Research and Development"),
    ("Amount", "USD 1,250.00"),
    ("Approved by", "R. Smith"),
    ("Signature", ""),
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def bundled_corpus() -> Corpus:
    corpus = Corpus(source="bundled")
    receipt = RECEIPT.read_bytes()
    corpus.add(_sample("receipts", "receipt.png", receipt))
    with Image.open(io.BytesIO(receipt)) as im:
        big = im.convert("RGB").resize((im.width * 2, im.height * 2), Image.Resampling.LANCZOS)
    corpus.add(_sample("receipts", "receipt-x2.jpg", _encode(big, "JPEG", quality=85)))
    corpus.add(_sample("forms", "form.png", _encode(_form(1000, 1294), "PNG")))
    corpus.add(_sample("forms", "form-small.png", _encode(_form(600, 776), "PNG")))
    corpus.add(_sample("scene", "scene.jpg", _encode(_scene(1024, 768, 7), "JPEG", quality=80)))
    corpus.add(_sample("scene", "scene-wide.jpg", _encode(_scene(1600, 900, 11), "JPEG")))
    for i, word in enumerate(WORDS):
        corpus.add(_sample("crops", f"word{i}.png", _encode(_word(word, 28 + 4 * i), "PNG")))
    return corpus


def _form(width: int, height: int) -> Image.Image:
    page = Image.new("RGB", (width, height), (246, 244, 238))
    draw = ImageDraw.Draw(page)
    s = width / 1000
    draw.text((60 * s, 50 * s), "APPLICATION FORM", fill="black", font=_font(int(40 * s)))
    y = 150 * s
    for label, value in FORM_FIELDS:
        draw.text((60 * s, y), f"{label}:", fill="black", font=_font(int(24 * s)))
        draw.rectangle((330 * s, y - 8 * s, 940 * s, y + 36 * s), outline="black", width=2)
        if value:
            draw.text((345 * s, y), value, fill=(20, 30, 120), font=_font(int(24 * s)))
        y += 110 * s
    draw.text((60 * s, y + 40 * s), "Please return by post.", fill="black", font=_font(int(20 * s)))
    return page.filter(ImageFilter.GaussianBlur(0.6))


def _scene(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    page = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), (rng.randrange(60, 200), 90, rng.randrange(60, 200)))
    page = Image.blend(page, tint, 0.6)
    draw = ImageDraw.Draw(page)
    for _ in range(12):  # clutter: buildings, windows, signs
        x, y = rng.randrange(width), rng.randrange(height)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(40, 200)), fill=colour)
    for i, word in enumerate(("EXIT", "Coffee & Tea", "SALE 50%", "Platform 4", "OPEN 24H")):
        sign = Image.new("RGBA", (40 * len(word) + 40, 90), (255, 255, 255, 230))
        ImageDraw.Draw(sign).text((20, 15), word, fill=(180, 0, 0), font=_font(56))
        sign = sign.rotate(rng.uniform(-25, 25), expand=True, resample=Image.Resampling.BICUBIC)
        page.paste(sign, (rng.randrange(0, width - sign.width), 40 + i * (height - 160) // 5), sign)
    return page.filter(ImageFilter.GaussianBlur(1.0))


def _word(text: str, size: int) -> Image.Image:
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    pad = size // 3
    crop = Image.new("RGB", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), "white")
    ImageDraw.Draw(crop).text((pad - left, pad - top), text, fill=(10, 10, 10), font=font)
    return crop


# -- cache busting -----------------------------------------------------------------------------


def bust(data: bytes, token: str | None = None) -> bytes:
    """The same image with unique bytes (so a new cache key): a PNG ``tEXt`` chunk or a JPEG
    ``COM`` segment holding ``token``; other formats get it appended after the image data."""
    token = token or uuid.uuid4().hex
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        iend = data.rfind(b"IEND")
        if iend >= 12:
            body = b"loadtest\x00" + token.encode("ascii")
            crc = zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF
            chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", crc)
            return data[: iend - 4] + chunk + data[iend - 4 :]
    if data.startswith(b"\xff\xd8"):
        body = b"loadtest " + token.encode("ascii")
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + data[2:]
    return data + token.encode("ascii")
