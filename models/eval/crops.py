"""Scoring of crop sets (recognition) and of the angle set (0/180 classification).

Recognition, after the dataset's protocol normalisation of both sides:
- word_accuracy: predictions equal to the label / all crops;
- cer: sum of edit distances / sum of label characters (micro-averaged);
- char_accuracy: 1 - cer, floored at 0.
Angle: accuracy overall, per true class (acc_0, acc_180) and per source group ("receipt": source
starts with "sroie", "scene": starts with "iiit5k", anything else "other").
A missing prediction counts as empty text / no angle (wrong).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from models.eval.datasets import Dataset, Sample
from models.eval.text import edit_distance

Record = Mapping[str, Any]

SOURCE_GROUPS: tuple[tuple[str, str], ...] = (("sroie", "receipt"), ("iiit5k", "scene"))


def pred_text(record: Record | None) -> str:
    text = record.get("text") if record else None
    return text if isinstance(text, str) else ""


def pred_angle(record: Record | None) -> int | None:
    angle = record.get("angle") if record else None
    if isinstance(angle, bool) or not isinstance(angle, int | float):
        return None
    return int(angle) % 360


def score_crops(
    dataset: Dataset, predictions: Mapping[str, Record]
) -> tuple[dict[str, float], dict[str, int]]:
    """Word accuracy and CER of a recognition crop set."""
    norm = dataset.protocol.normalize
    correct = edits = chars = empty = 0
    for sample in dataset.samples:
        pred = norm(pred_text(predictions.get(sample.image)))
        gt = norm(sample.text)
        correct += pred == gt
        edits += edit_distance(pred, gt)
        chars += len(gt)
        empty += pred == ""
    n = len(dataset.samples)
    cer = edits / chars if chars else float(edits > 0)
    metrics = {
        "word_accuracy": correct / n if n else 0.0,
        "cer": cer,
        "char_accuracy": max(0.0, 1.0 - cer),
    }
    counts = {"correct": correct, "edits": edits, "gt_chars": chars, "empty_pred": empty}
    return metrics, counts


def source_group(sample: Sample) -> str:
    source = (sample.source or "").lower()
    for prefix, group in SOURCE_GROUPS:
        if source.startswith(prefix):
            return group
    return "other"


def score_angles(
    dataset: Dataset, predictions: Mapping[str, Record]
) -> tuple[dict[str, float], dict[str, int]]:
    """0/180 accuracy overall, per true class and per source group."""
    hits: dict[str, int] = defaultdict(int)
    totals: dict[str, int] = defaultdict(int)
    missing = 0
    for sample in dataset.samples:
        angle = pred_angle(predictions.get(sample.image))
        missing += angle is None
        ok = int(angle == sample.angle)
        for key in ("all", f"{sample.angle}", source_group(sample)):
            hits[key] += ok
            totals[key] += 1
    metrics = {"angle_accuracy": hits["all"] / totals["all"] if totals["all"] else 0.0}
    for key in ("0", "180", "receipt", "scene", "other"):
        if totals[key]:
            metrics[f"acc_{key}"] = hits[key] / totals[key]
    counts = {"correct": hits["all"], "missing_pred": missing}
    counts.update({f"n_{key}": totals[key] for key in ("receipt", "scene", "other") if totals[key]})
    return metrics, counts
