"""The whole pipeline on real models: rendered text must come back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.ocr.decode import decode_image
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import OcrOptions
from service.runtime.loader import load_pipeline
from service.settings import Settings
from tests.integration.render import cjk_font, render_lines

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"

ENGLISH = [
    "Invoice total: 1,234.56 EUR",
    "Quick brown fox jumps over the lazy dog",
    "Order #A-20931 shipped 2026-11-23",
]
CHINESE = ["中华人民共和国", "上海市浦东新区世纪大道100号", "欢迎光临"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(intra_op_threads=1)


@pytest.fixture(scope="module")
def v6(settings: Settings) -> OcrPipeline:
    return load_pipeline(settings, "ppocr-v6-small")


@pytest.fixture(scope="module")
def v4(settings: Settings) -> OcrPipeline:
    return load_pipeline(settings, "ppocr-v4-mobile")


@pytest.fixture(scope="module")
def opts(settings: Settings) -> OcrOptions:
    return settings.ocr_options()


def test_english_lines_read_exactly(v6: OcrPipeline, opts: OcrOptions) -> None:
    result = v6.run(render_lines(ENGLISH), opts)
    assert [ln.text for ln in result.lines] == ENGLISH
    assert all(ln.score > 0.9 and ln.angle == 0 for ln in result.lines)
    assert result.model_set == "ppocr-v6-small"
    assert set(result.model_versions) == {"det", "cls", "rec"}
    assert {"det", "cls", "rec", "total"} <= set(result.timings_ms)


@pytest.mark.parametrize("model", ["v6", "v4"])
def test_chinese_lines_read_exactly(model: str, request: pytest.FixtureRequest, opts) -> None:
    font = cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (scripts/setup.sh --dev installs fonts-wqy-microhei)")
    pipeline: OcrPipeline = request.getfixturevalue(model)
    result = pipeline.run(render_lines(CHINESE, font_path=font, size=40), opts)
    assert [ln.text for ln in result.lines] == CHINESE


def test_upside_down_page_is_flipped_by_the_classifier(v6: OcrPipeline, opts: OcrOptions) -> None:
    page = render_lines(ENGLISH)
    flipped = type(page)(pixels=np.ascontiguousarray(page.pixels[::-1, ::-1]), format="RAW")
    result = v6.run(flipped, opts)
    assert sorted(ln.text for ln in result.lines) == sorted(ENGLISH)
    assert all(ln.angle == 180 for ln in result.lines)


def test_polygons_lie_on_the_rendered_lines(v6: OcrPipeline, opts: OcrOptions) -> None:
    page = render_lines(ENGLISH)
    result = v6.run(page, opts)
    for i, line in enumerate(result.lines):
        ys = [y for _, y in line.quad.points]
        row_top = 18 + int(36 * 2.2) * i
        assert row_top - 10 < min(ys) < max(ys) < row_top + 36 + 20


def test_blank_image_is_an_empty_result(v6: OcrPipeline, opts: OcrOptions) -> None:
    page = render_lines([""])
    result = v6.run(page, opts)
    assert result.lines == () and result.text == ""


def test_tiny_image_does_not_crash(v6: OcrPipeline, opts: OcrOptions) -> None:
    tiny = type(render_lines([""]))(pixels=np.full((1, 1, 3), 255, np.uint8), format="RAW")
    assert v6.run(tiny, opts).lines == ()


def test_bundled_sample_receipt(v6: OcrPipeline, opts: OcrOptions) -> None:
    image = decode_image((REPO / "samples" / "receipt.png").read_bytes())
    got = " ".join(ln.text for ln in v6.run(image, opts).lines).replace(" ", "")
    expected = (REPO / "samples" / "receipt.txt").read_text().split()
    missing = [w for w in expected if w.replace(" ", "") not in got]
    assert missing == []


def _page_samples(name: str, n: int) -> list[dict]:
    labels = DATASETS / name / "labels.jsonl"
    if not labels.is_file():
        pytest.skip(f"{labels} not available")
    return [json.loads(line) for line in labels.open(encoding="utf-8")][:n]


def test_a_few_real_receipts_match_their_labels(v6: OcrPipeline, opts: OcrOptions) -> None:
    """Three SROIE receipts: most labelled lines must appear verbatim (case-insensitive)."""
    for rec in _page_samples("sroie_train_dev", 3):
        image = decode_image((DATASETS / "sroie_train_dev" / rec["image"]).read_bytes())
        got = {ln.text.upper().strip() for ln in v6.run(image, opts).lines}
        want = [ln["text"].strip() for ln in rec["lines"] if ln["text"] not in ("###", "***")]
        found = sum(t in got for t in want) / len(want)
        assert found > 0.6, (rec["image"], found)
