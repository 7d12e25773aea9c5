"""End-to-end page scoring, reports and the runner (models/eval: end_to_end, report, runner)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from models.eval.datasets import Dataset, load_dataset
from models.eval.report import format_table, score
from models.eval.runner import evaluate, load_predictions, save_predictions


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


ROWS = [box(0, 20 * i, 200, 20 * i + 15) for i in range(6)]


def page_set(
    tmp_path: Path, name: str, pages: Mapping[str, Sequence[tuple[int, str | None]]]
) -> Dataset:
    """A page set whose lines are (row index, text) on the fixed ROWS boxes."""
    root = tmp_path / name
    root.mkdir()
    with (root / "labels.jsonl").open("w", encoding="utf-8") as f:
        for image, lines in pages.items():
            rec = {"image": image, "lines": [{"points": ROWS[r], "text": t} for r, t in lines]}
            f.write(json.dumps(rec) + "\n")
    return load_dataset(root)


def pred(lines: list[tuple[int, str]]) -> dict[str, Any]:
    return {"lines": [{"points": ROWS[r], "text": t, "score": 0.9} for r, t in lines]}


def test_exact_predictions_score_one(tmp_path: Path) -> None:
    pages = {"p1.png": [(0, "Date: 3/4"), (1, "Total 12")], "p2.png": [(0, "Name")]}
    ds = page_set(tmp_path, "funsd_x", pages)
    report = score(ds, {img: pred(lines) for img, lines in pages.items()})
    for key in ("det_f1", "char_accuracy", "line_exact", "e2e_f1", "bow_f1"):
        assert report.metrics[key] == 1.0, key
    assert report.metrics["matched_cer"] == 0.0


def test_char_accuracy_and_line_exact(tmp_path: Path) -> None:
    ds = page_set(tmp_path, "funsd_x", {"p.png": [(0, "HELLO"), (1, "WORLD"), (2, "MISSED")]})
    report = score(ds, {"p.png": pred([(0, "HELO"), (1, "WORLD"), (4, "EXTRA")])})
    m = report.metrics
    assert m["char_accuracy"] == pytest.approx(1 - 1 / 10)  # matched pairs only
    assert m["line_exact"] == pytest.approx(1 / 3)  # the missed line counts as wrong
    assert m["e2e_precision"] == pytest.approx(1 / 3)
    assert m["e2e_recall"] == m["line_exact"]
    assert (m["det_precision"], m["det_recall"]) == pytest.approx((2 / 3, 2 / 3))


def test_case_insensitivity_switch(tmp_path: Path) -> None:
    pages = {"r.jpg": [(0, "TOTAL AMOUNT"), (1, "CASH")]}
    preds = {"r.jpg": pred([(0, "Total Amount"), (1, "CASH")])}
    sroie = page_set(tmp_path, "sroie_x", pages)
    assert score(sroie, preds).metrics["line_exact"] == 1.0  # SROIE default: case-insensitive
    strict = score(sroie, preds, case_insensitive=False)
    assert strict.metrics["line_exact"] == 0.5
    assert strict.metrics["bow_f1"] == pytest.approx(1 / 3)
    assert strict.protocol["case_insensitive"] is False
    funsd = page_set(tmp_path, "funsd_x", pages)
    assert score(funsd, preds).metrics["line_exact"] == 0.5  # FUNSD default: as written
    assert score(funsd, preds, case_insensitive=True).metrics["line_exact"] == 1.0


def test_bag_of_words_hand_computed(tmp_path: Path) -> None:
    pages = {"p1.png": [(0, "A B C"), (1, "A D")], "p2.png": [(0, "X")]}
    ds = page_set(tmp_path, "funsd_x", pages)
    # p1: GT {A:2,B,C,D} (5), pred {A:3,B,E} (5), common A:2 + B = 3; words split across lines
    # p2: GT {X}, no prediction. Micro-average: tp 3, pred 5, gt 6.
    report = score(ds, {"p1.png": pred([(0, "A B"), (3, "A A"), (5, "E")])})
    m = report.metrics
    assert (report.counts["bow_tp"], report.counts["bow_pred"], report.counts["bow_gt"]) == (
        3,
        5,
        6,
    )
    assert m["bow_precision"] == pytest.approx(3 / 5)
    assert m["bow_recall"] == pytest.approx(3 / 6)
    assert m["bow_f1"] == pytest.approx(2 * 0.6 * 0.5 / 1.1)


def test_missing_predictions_count_as_empty(tmp_path: Path) -> None:
    pages = {"p1.png": [(0, "ONE")], "p2.png": [(0, "TWO"), (1, "THREE")]}
    ds = page_set(tmp_path, "funsd_x", pages)
    report = score(ds, {"p1.png": pred([(0, "ONE")])})
    assert report.metrics["det_recall"] == pytest.approx(1 / 3)
    assert report.metrics["det_precision"] == 1.0
    assert report.metrics["line_exact"] == pytest.approx(1 / 3)
    assert report.counts["missing_pred"] == 1
    nothing = score(ds, {}).metrics
    assert (nothing["det_precision"], nothing["det_recall"], nothing["bow_f1"]) == (0, 0, 0)
    # a record without "lines", or lines without text, is empty output too
    assert score(ds, {"p1.png": {}, "p2.png": {"lines": None}}).metrics["det_recall"] == 0
    no_text = {"p1.png": {"lines": [{"points": ROWS[0]}]}}
    assert score(ds, no_text).metrics["line_exact"] == 0.0


def test_dont_care_lines_are_left_out_of_text_metrics(tmp_path: Path) -> None:
    ds = page_set(tmp_path, "sroie_x", {"r.jpg": [(0, "TOTAL"), (1, "***"), (2, "###")]})
    preds = {"r.jpg": pred([(0, "TOTAL"), (1, "中文"), (2, "noise")])}
    report = score(ds, preds)
    assert report.metrics["bow_f1"] == 1.0
    assert report.metrics["det_precision"] == 1.0
    assert report.counts["det_ignored_pred"] == 2


def test_detection_only_set_has_no_text_metrics(tmp_path: Path) -> None:
    ds = page_set(tmp_path, "msra_td500_x", {"i.jpg": [(0, None), (1, None)]})
    report = score(ds, {"i.jpg": pred([(0, ""), (3, "")])})
    assert report.metrics["det_f1"] == 0.5
    assert "bow_f1" not in report.metrics and "line_exact" not in report.metrics


def test_report_to_dict_and_table(tmp_path: Path) -> None:
    pages = {"p.png": [(0, "A")]}
    ds = page_set(tmp_path, "funsd_x", pages)
    records = [{"image": "p.png", "latency_ms": 12.5, **pred([(0, "A")])}]
    report = score(ds, records)  # a list of records is accepted too
    data = json.loads(json.dumps(report.to_dict()))
    assert data["dataset"] == "funsd_x" and data["kind"] == "page" and data["n"] == 1
    assert data["protocol"]["iou_threshold"] == 0.5
    assert data["metrics"]["latency_ms_p50"] == 12.5
    assert any("derived" in note for note in data["notes"])
    table = format_table([report])
    header, rule, row = table.splitlines()
    assert header.split()[:3] == ["dataset", "kind", "n"]
    assert "bow_F1" in header and "word_acc" not in header
    assert row.split()[:3] == ["funsd_x", "page", "1"]
    assert len(rule) >= len(row)


def test_runner_evaluates_in_order(tmp_path: Path) -> None:
    pages = {"p1.png": [(0, "ONE")], "p2.png": [(0, "TWO")]}
    ds = page_set(tmp_path, "funsd_x", pages)
    seen: list[Path] = []

    def predict(path: Path) -> dict[str, Any]:
        seen.append(path)
        return pred([(0, path.stem.replace("p1", "ONE").replace("p2", "TWO"))])

    report, records = evaluate(ds, predict, progress=True)
    assert seen == [ds.root / "p1.png", ds.root / "p2.png"]
    assert all(p.is_absolute() for p in seen)
    assert [r["image"] for r in records] == ["p1.png", "p2.png"]
    assert all(r["latency_ms"] >= 0 for r in records)
    assert report.metrics["line_exact"] == 1.0
    assert "latency_ms_p90" in report.metrics

    out = tmp_path / "preds.jsonl"
    save_predictions(out, records)
    assert score(ds, load_predictions(out)).metrics == report.metrics


def test_runner_on_error(tmp_path: Path) -> None:
    ds = page_set(tmp_path, "funsd_x", {"p1.png": [(0, "ONE")], "p2.png": [(0, "TWO")]})

    def flaky(path: Path) -> dict[str, Any]:
        if path.name == "p2.png":
            raise RuntimeError("boom")
        return pred([(0, "ONE")])

    with pytest.raises(RuntimeError):
        evaluate(ds, flaky)
    report, records = evaluate(ds, flaky, on_error="empty")
    assert report.counts["errors"] == 1
    assert "boom" in records[1]["error"]
    assert report.metrics["line_exact"] == 0.5
