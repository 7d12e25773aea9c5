"""Recogniser + classifier stages with the real PP-OCR models on lines rendered with Pillow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from models.codec import Charset, Decoder
from models.eval.text import edit_distance
from service.engines.onnxruntime import OnnxEngine, OrtOptions
from service.ocr.classify import AngleClassifier
from service.ocr.recognize import DEFAULT_BUCKETS, MIN_320_BUCKETS, RecShape, TextRecognizer
from service.ocr.types import Pixels

pytestmark = pytest.mark.integration

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LINES = [
    "Hello World",
    "Invoice 2024-03-15",
    "Total: $1,234.56",
    "The quick brown fox jumps over the lazy dog",
    "Receipt No. 000731",
    "email: info@example.com",
    "OCR",
]
LONG_LINE = (
    "The quick brown fox jumps over the lazy dog while 12 sleepy cats watch from the window; "
    "invoice #4821 totals $1,337.50 payable by 31 March 2024 to ACME Widgets Ltd., Bristol."
)


def render(text: str, size: int = 32, font: Path = DEJAVU, pad: int = 8) -> Pixels:
    """Black text on white, BGR uint8, tight box plus ``pad`` px."""
    face = ImageFont.truetype(str(font), size)
    left, top, right, bottom = (int(v) for v in face.getbbox(text))
    img = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), "white")
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=face, fill="black")
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


def _engine(path: Path) -> OnnxEngine:
    return OnnxEngine(path, OrtOptions(intra_op_threads=2))


def _recognizer(files: dict[str, Path], buckets: tuple[int, ...]) -> TextRecognizer:
    engine = _engine(files["rec"])
    charset = Charset.from_metadata(engine.metadata)
    return TextRecognizer(engine, charset, RecShape(buckets=buckets), max_batch=32)


@pytest.fixture(scope="module")
def v6_rec(v6_files: dict[str, Path]) -> TextRecognizer:
    return _recognizer(v6_files, DEFAULT_BUCKETS)


@pytest.fixture(scope="module")
def v4_rec(v4_files: dict[str, Path]) -> TextRecognizer:
    return _recognizer(v4_files, MIN_320_BUCKETS)


@pytest.fixture(scope="module")
def v6_cls(v6_files: dict[str, Path]) -> AngleClassifier:
    return AngleClassifier(_engine(v6_files["cls"]))


@pytest.mark.parametrize("size", [20, 32, 48])
def test_v6_reads_rendered_lines_exactly(v6_rec: TextRecognizer, size: int) -> None:
    out = v6_rec.recognize([render(t, size) for t in LINES])
    assert [r.text for r in out] == LINES
    assert all(r.score > 0.9 for r in out)


def test_v4_reads_rendered_lines(v4_rec: TextRecognizer) -> None:
    out = v4_rec.recognize([render(t, 32) for t in LINES])
    # v4 sometimes adds a space at a line's ends; the words themselves must be exact
    assert [r.text.strip() for r in out] == LINES


def test_beam_and_greedy_agree_on_clean_lines(v6_rec: TextRecognizer) -> None:
    crops = [render(t) for t in LINES]
    greedy = v6_rec.recognize(crops, Decoder("greedy"))
    beam = v6_rec.recognize(crops, Decoder("beam", 5))
    assert [r.text for r in beam] == [r.text for r in greedy]
    assert [r.score for r in beam] == pytest.approx([r.score for r in greedy], abs=1e-4)


def test_batch_of_32_with_other_neighbours_changes_nothing(v6_rec: TextRecognizer) -> None:
    rng = np.random.default_rng(7)
    sizes = rng.integers(18, 44, len(LINES))
    probes = [render(t, int(s)) for t, s in zip(LINES, sizes, strict=True)]
    alone = [v6_rec.recognize([p])[0] for p in probes]
    words = LONG_LINE.split()
    for _ in range(2):
        crowd = [
            render(" ".join(rng.choice(words, int(rng.integers(1, 6)))), int(rng.integers(14, 50)))
            for _ in range(32 - len(probes))
        ]
        slots = sorted(rng.choice(32, len(probes), replace=False).tolist())
        for slot, probe in zip(slots, probes, strict=True):
            crowd.insert(slot, probe)
        out = v6_rec.recognize(crowd)
        for slot, expected in zip(slots, alone, strict=True):
            assert out[slot].text == expected.text
            assert out[slot].score == pytest.approx(expected.score, abs=1e-4)


@pytest.mark.parametrize("model", ["v6", "v4"])
def test_long_line_is_split_not_squashed(
    model: str, v6_rec: TextRecognizer, v4_rec: TextRecognizer
) -> None:
    rec = v6_rec if model == "v6" else v4_rec
    crop = render(LONG_LINE, 32)
    assert len(rec.preprocess([crop])) >= 3  # wider than the largest bucket: several windows
    for decoder in (Decoder("greedy"), Decoder("beam", 5)):
        text = rec.recognize([crop], decoder)[0].text.strip()
        assert edit_distance(text, LONG_LINE) / len(LONG_LINE) < 0.05, text


def test_classifier_turns_an_upside_down_line_upright(
    v6_cls: AngleClassifier, v6_rec: TextRecognizer
) -> None:
    upright = [render(t, 32) for t in LINES]
    flipped: list[Pixels] = [np.asarray(cv2.rotate(c, cv2.ROTATE_180), np.uint8) for c in upright]
    results = v6_cls.classify(upright + flipped)
    assert [r.angle for r in results] == [0] * len(LINES) + [180] * len(LINES)
    # a very long line is squashed to the classifier's 192 px: right, but less sure (~0.8)
    short = [i for i, t in enumerate(LINES) if len(t) < 25]
    assert all(results[len(LINES) + i].score >= 0.9 for i in short)
    fixed = v6_cls.apply([flipped[i] for i in short])
    assert all(np.array_equal(f, upright[i]) for f, i in zip(fixed, short, strict=True))
    assert [r.text for r in v6_rec.recognize(fixed)] == [LINES[i] for i in short]


def _cjk_font() -> Path | None:
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]
    return next((p for p in paths if p.suffix.lower() in {".ttf", ".otf", ".ttc"}), None)


@pytest.mark.parametrize("model", ["v6", "v4"])
def test_reads_rendered_chinese(model: str, v6_rec: TextRecognizer, v4_rec: TextRecognizer) -> None:
    font = _cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (fc-list :lang=zh is empty)")
    rec = v6_rec if model == "v6" else v4_rec
    lines = ["中文识别", "发票号码12345", "北京市海淀区", "合计金额：人民币伍佰元整", "皖A8Y796"]
    out = rec.recognize([render(t, 32, font=font) for t in lines])
    assert [r.text.strip() for r in out] == lines


NARROW = Path("/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf")
HEADINGS = [
    ["SANYU", "STATIONERY", "SHOP"], ["FUYI", "MINI", "MARKET"], ["JALAN", "AIR", "PANAS"],
    ["KUALA", "LUMPUR"], ["GOLDEN", "SCOOP", "SDN", "BHD"], ["MINI", "MARKET"],
    ["TAMAN", "SRI", "PUTRA"],
]  # fmt: skip


def _spaced(words: list[str], gap: int) -> Image.Image:
    """A receipt heading in a narrow font with only ``gap`` px between words."""
    face = ImageFont.truetype(str(NARROW), 32)
    widths = [int(face.getbbox(w)[2]) for w in words]
    img = Image.new("RGB", (sum(widths) + gap * (len(words) - 1) + 16, 48), "white")
    draw, x = ImageDraw.Draw(img), 8
    for word, width in zip(words, widths, strict=True):
        draw.text((x, 6), word, font=face, fill="black")
        x += width + gap
    return img


@pytest.mark.skipif(not NARROW.is_file(), reason="fonts-liberation not installed")
def test_the_catalogue_space_weight_keeps_narrow_word_gaps() -> None:
    """PP-OCRv6 under-reads the space of narrowly spaced capitals ("SANYUSTATIONERYSHOP" on a
    real receipt). Loaded through the catalogue, the set weighs the space class up
    (``space_weight``) and reads such headings word for word; unweighed it runs words together."""
    from service.ocr.types import Image as OcrImage
    from service.runtime.loader import load_pipeline
    from service.settings import Settings

    settings = Settings(intra_op_threads=2)
    pipeline = load_pipeline(settings, "ppocr-v6-small")
    assert pipeline.recognizer.shape.space_weight > 1.0
    crops = [np.ascontiguousarray(np.asarray(_spaced(w, 4))[:, :, ::-1]) for w in HEADINGS]
    opts = settings.ocr_options()
    weighed = [pipeline.read_line(OcrImage(pixels=c, format="RAW"), opts).text for c in crops]
    assert weighed == [" ".join(w) for w in HEADINGS]
    plain = TextRecognizer(pipeline.recognizer.engine, pipeline.recognizer.charset, RecShape())
    unweighed = [r.text for r in plain.recognize(crops)]
    assert sum(t.count(" ") for t in unweighed) < sum(t.count(" ") for t in weighed)
