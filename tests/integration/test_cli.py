"""The `ocr` command as a user runs it: a real process, the real bundled models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OCR = str(Path(sys.executable).parent / "ocr")


def ocr(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([OCR, *args], capture_output=True, text=True, timeout=300, cwd=REPO)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_predict_text_and_json() -> None:
    text = ocr("predict", "--threads", "1", "samples/receipt.png").stdout
    assert "GREEN LEAF GROCERY" in text and "Thank you for shopping!" in text
    doc = json.loads(ocr("predict", "--json", "--threads", "1", "samples/receipt.png").stdout)
    assert doc["model_set"] == "ppocr-v6-small" and doc["image"]["width"] == 720
    assert doc["lines"][0]["text"] == "GREEN LEAF GROCERY"
    assert len(doc["lines"][0]["polygon"]) == 4


def test_predict_reports_bad_files_with_a_code_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    proc = ocr("predict", str(bad), str(empty), "samples/receipt.png", check=False)
    assert proc.returncode == 1
    assert "INVALID_IMAGE" in proc.stderr and "GREEN LEAF GROCERY" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_unknown_model_set_is_a_clear_error() -> None:
    proc = ocr("predict", "--model", "nope", "samples/receipt.png", check=False)
    assert proc.returncode == 2 and "known sets" in proc.stderr


def test_models_list_and_verify() -> None:
    assert "ppocr-v6-small" in ocr("models", "list").stdout
    assert "ok" in ocr("models", "verify", "--all").stdout


def test_eval_scores_a_predictions_file(tmp_path: Path) -> None:
    ds = tmp_path / "words"
    ds.mkdir()
    (ds / "labels.jsonl").write_text(
        '{"image": "a.png", "text": "Hello"}\n{"image": "b.png", "text": "world"}\n'
    )
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"image": "a.png", "text": "Hello"}\n{"image": "b.png", "text": "word"}\n')
    out = tmp_path / "r.json"
    ocr("eval", "--dataset", str(ds), "--predictions", str(preds), "--out", str(out))
    metrics = json.loads(out.read_text())["reports"][0]["metrics"]
    assert metrics["word_accuracy"] == 0.5


def test_predict_reads_receipt_fields_on_request() -> None:
    out = ocr("predict", "--json", "--fields", "receipt", "--threads", "1", "samples/receipt.png")
    fields = json.loads(out.stdout)["fields"]
    assert set(fields) == {"company", "date", "address", "total"}
    assert fields["total"]["value"] == "11.76" and fields["total"]["normalized"] == "11.76"
    assert fields["date"]["normalized"] == "2026-11-23"
    assert len(fields["total"]["polygons"][0]) == 4
    plain = json.loads(ocr("predict", "--json", "--threads", "1", "samples/receipt.png").stdout)
    assert "fields" not in plain
