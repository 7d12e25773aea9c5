"""Crop recognition and angle scoring (models/eval/crops.py via report.score)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.eval.datasets import Dataset, load_dataset
from models.eval.report import score


def make_set(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Dataset:
    root = tmp_path / name
    root.mkdir()
    with (root / "labels.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return load_dataset(root)


def test_iiit5k_word_accuracy_and_cer(tmp_path: Path) -> None:
    ds = make_set(
        tmp_path,
        "iiit5k_x",
        [{"image": "a.png", "text": "Hello"}, {"image": "b.png", "text": "World"}],
    )
    preds: dict[str, dict[str, Any]] = {
        "a.png": {"text": "HELLO!", "score": 0.9},
        "b.png": {"text": "Word"},
    }
    report = score(ds, preds)
    assert report.metrics["word_accuracy"] == 0.5  # "HELLO!" == "Hello" case-/punct-insensitive
    assert report.metrics["cer"] == pytest.approx(1 / 10)
    assert report.metrics["char_accuracy"] == pytest.approx(0.9)
    assert report.counts["edits"] == 1 and report.counts["gt_chars"] == 10


def test_plates_are_exact(tmp_path: Path) -> None:
    ds = make_set(
        tmp_path,
        "cn_license_plate_x",
        [{"image": "p0.jpg", "text": "皖A8Y796"}, {"image": "p1.jpg", "text": "苏B12345"}],
    )
    report = score(ds, {"p0.jpg": {"text": "皖A8Y796"}, "p1.jpg": {"text": "苏b12345"}})
    assert report.metrics["word_accuracy"] == 0.5
    assert report.metrics["cer"] == pytest.approx(1 / 14)


def test_sroie_crops_ignore_case(tmp_path: Path) -> None:
    ds = make_set(tmp_path, "sroie_train_line_crops_x", [{"image": "l.png", "text": "TOTAL:"}])
    assert score(ds, {"l.png": {"text": "Total:"}}).metrics["word_accuracy"] == 1.0
    assert score(ds, {"l.png": {"text": "Total:"}}, case_insensitive=False).metrics[
        "word_accuracy"
    ] == pytest.approx(0.0)


def test_missing_predictions_are_empty_output(tmp_path: Path) -> None:
    ds = make_set(
        tmp_path, "crops_x", [{"image": "a.png", "text": "AB"}, {"image": "b.png", "text": "CD"}]
    )
    report = score(ds, {"a.png": {"text": "AB"}, "other.png": {"text": "?"}})
    assert report.metrics["word_accuracy"] == 0.5
    assert report.metrics["cer"] == 0.5
    assert report.counts["missing_pred"] == 1
    assert report.counts["extra_pred"] == 1
    assert report.counts["empty_pred"] == 1
    assert score(ds, {}).metrics["word_accuracy"] == 0.0


def angle_set(tmp_path: Path) -> Dataset:
    records = [
        {"image": "a0.png", "angle": 0, "text": "TOTAL", "source": "sroie_train_line_crops/1.png"},
        {"image": "a1.png", "angle": 180, "text": "CASH", "source": "sroie_train_line_crops/2.png"},
        {"image": "a2.png", "angle": 0, "text": "Home", "source": "iiit5k_train/images/1.png"},
        {"image": "a3.png", "angle": 180, "text": "India", "source": "iiit5k_train/images/2.png"},
        {"image": "a4.png", "angle": 180, "text": "x", "source": "elsewhere/3.png"},
    ]
    return make_set(tmp_path, "angle_cls_x", records)


def test_angle_accuracy_per_source_and_class(tmp_path: Path) -> None:
    ds = angle_set(tmp_path)
    preds: dict[str, dict[str, Any]] = {
        "a0.png": {"angle": 0},
        "a1.png": {"angle": 180},
        "a2.png": {"angle": 180},  # wrong
        "a3.png": {"angle": 180.0},
        # a4 missing: wrong
    }
    report = score(ds, preds)
    m = report.metrics
    assert m["angle_accuracy"] == pytest.approx(3 / 5)
    assert m["acc_receipt"] == 1.0
    assert m["acc_scene"] == 0.5
    assert m["acc_other"] == 0.0
    assert m["acc_0"] == 0.5
    assert m["acc_180"] == pytest.approx(2 / 3)
    assert report.counts["missing_pred"] == 1
    assert (report.counts["n_receipt"], report.counts["n_scene"]) == (2, 2)


@pytest.mark.parametrize("bad", [None, "180", True, [180]])
def test_malformed_angle_counts_as_wrong(tmp_path: Path, bad: object) -> None:
    ds = angle_set(tmp_path)
    preds: dict[str, dict[str, Any]] = {s.image: {"angle": s.angle} for s in ds.samples}
    preds["a1.png"] = {"angle": bad}
    assert score(ds, preds).metrics["angle_accuracy"] == pytest.approx(4 / 5)


def test_angle_360_wraps(tmp_path: Path) -> None:
    ds = angle_set(tmp_path)
    preds = {s.image: {"angle": (s.angle or 0) + 360} for s in ds.samples}
    assert score(ds, preds).metrics["angle_accuracy"] == 1.0
