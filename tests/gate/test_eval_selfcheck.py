"""Self-check of models/eval on the real datasets: labels scored as predictions are perfect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.eval.datasets import load_dataset, read_records
from models.eval.report import score

pytestmark = pytest.mark.gate

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

# name -> (kind, records in labels.jsonl, the metrics that must be exactly 1)
EXPECTED: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "sroie_train_dev": ("page", 100, ("det_f1", "char_accuracy", "line_exact", "bow_f1")),
    "funsd_train": ("page", 149, ("det_f1", "char_accuracy", "line_exact", "bow_f1")),
    "msra_td500_train": ("page", 300, ("det_precision", "det_recall", "det_f1")),
    "iiit5k_train": ("crop", 2000, ("word_accuracy", "char_accuracy")),
    "sroie_train_line_crops": ("crop", 1500, ("word_accuracy", "char_accuracy")),
    "cn_license_plate_crops": ("crop", 1000, ("word_accuracy", "char_accuracy")),
    "angle_cls_dev": ("angle", 800, ("angle_accuracy", "acc_receipt", "acc_scene")),
}


def _root(name: str) -> Path:
    root = DATASETS / name
    if not (root / "labels.jsonl").is_file():
        pytest.skip(f"{root} is not available")
    return root


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_labels_as_predictions_score_perfectly(name: str) -> None:
    kind, total, perfect = EXPECTED[name]
    root = _root(name)
    dataset = load_dataset(root)
    assert (dataset.kind, dataset.total, len(dataset)) == (kind, total, total)
    report = score(dataset, read_records(root / "labels.jsonl"))
    for key in perfect:
        assert report.metrics[key] == 1.0, (key, report.metrics)
    assert report.counts["missing_pred"] == 0


def _lower(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    if "lines" in out:
        out["lines"] = [{**ln, "text": (ln["text"] or "").lower()} for ln in out["lines"]]
    else:
        out["text"] = out["text"].lower()
    return out


@pytest.mark.parametrize("name", ["sroie_train_dev", "sroie_train_line_crops", "iiit5k_train"])
def test_case_insensitive_sets_accept_lower_case(name: str) -> None:
    root = _root(name)
    dataset = load_dataset(root, limit=50, offset=10)
    records = [_lower(r) for r in read_records(root / "labels.jsonl")[10:60]]
    key = "line_exact" if dataset.kind == "page" else "word_accuracy"
    assert score(dataset, records).metrics[key] == 1.0
