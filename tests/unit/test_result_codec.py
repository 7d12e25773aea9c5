"""The result cache codec: OcrResult -> JSON bytes -> an equal OcrResult."""

from __future__ import annotations

import json

import pytest

from service.ocr.types import OcrResult, Quad, TextLine
from service.runtime.result_codec import SCHEMA, dumps, loads


def line(text: str, angle: int = 0, x: float = 0.0) -> TextLine:
    quad = Quad.from_array([[x, 1.5], [x + 100.25, 1.5], [x + 100.25, 20.0], [x, 20.0]])
    return TextLine(quad, text, 0.987654321, angle, 0.8125)  # type: ignore[arg-type]


def result(*lines: TextLine) -> OcrResult:
    return OcrResult(
        lines=lines,
        width=640,
        height=480,
        model_set="ppocr-v6-small",
        model_versions={"det": "6.0.0", "cls": "1.0", "rec": "6.0.0"},
        timings_ms={"det": 12.5, "cls": 0.75, "rec": 30.0},
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(result(line("Total 12.50")), id="ascii"),
        pytest.param(result(line("京P·L3N67"), line("naïve café ✓ 😀", x=3.0)), id="unicode"),
        pytest.param(result(line("upside down", angle=180)), id="angle-180"),
        pytest.param(result(), id="no-lines"),
        pytest.param(result(line(""), line('quote " and \\ backslash\nnewline')), id="escapes"),
    ],
)
def test_round_trip(value: OcrResult) -> None:
    data = dumps(value)
    assert isinstance(data, bytes)
    back = loads(data)
    assert back == value
    assert back.text == value.text
    assert isinstance(back.lines, tuple)
    for ln in back.lines:
        assert all(isinstance(c, float) for pt in ln.quad.points for c in pt)
        assert isinstance(ln.angle, int)


def test_round_trip_is_stable() -> None:
    value = result(line("a"), line("b", angle=180))
    assert dumps(loads(dumps(value))) == dumps(value)


def test_unicode_is_stored_as_utf8_not_escaped() -> None:
    data = dumps(result(line("京")))
    assert "京".encode() in data
    assert json.loads(data)["lines"][0][1] == "京"


def test_integer_coordinates_load_as_floats() -> None:
    doc = json.loads(dumps(result(line("x"))))
    doc["lines"][0][0] = [[0, 0], [10, 0], [10, 5], [0, 5]]
    back = loads(json.dumps(doc).encode())
    assert back.lines[0].quad.points == ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0))


def test_schema_version_is_an_int() -> None:
    assert isinstance(SCHEMA, int)
