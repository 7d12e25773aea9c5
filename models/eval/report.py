"""Score predictions against a dataset and present the result.

Predictions use the label record format of the dataset kind, keyed by the record's `image`:
- page:  {"image", "lines": [{"points": [[x, y], ...], "text": "...", "score": 0.9}, ...]}
- crop:  {"image", "text", "score"}
- angle: {"image", "angle": 0 | 180}
An image with no prediction counts as empty output. A record may carry `latency_ms`; when the
records carry it, latency percentiles are reported too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.eval.crops import score_angles, score_crops
from models.eval.datasets import Dataset
from models.eval.end_to_end import score_pages

Record = Mapping[str, Any]
Scorer = Callable[[Dataset, Mapping[str, Record]], tuple[dict[str, float], dict[str, int]]]

_SCORERS: dict[str, Scorer] = {"page": score_pages, "crop": score_crops, "angle": score_angles}

_NOTES: tuple[tuple[str, str], ...] = (
    (
        "funsd",
        "GT lines are derived (an entity's words grouped by vertical overlap): line metrics "
        "penalise a different line segmentation; bow_* does not depend on segmentation.",
    ),
    ("sroie", "labels are upper-case: texts compared case-insensitively; '***' lines ignored."),
    ("msra_td500", "detection only; difficult lines are don't-care."),
    ("iiit5k", "case-insensitive, alphanumeric characters only."),
)


@dataclass
class Report:
    dataset: str
    kind: str
    n: int
    protocol: dict[str, Any]
    metrics: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    offset: int = 0
    total: int = 0  # records in the dataset before slicing

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy (plain dicts, lists, str, int, float)."""
        out = dataclasses.asdict(self)
        out["metrics"] = {k: float(v) for k, v in self.metrics.items()}
        out["counts"] = {k: int(v) for k, v in self.counts.items()}
        return out


def index_predictions(records: Iterable[Record]) -> dict[str, Record]:
    """Predictions keyed by image; a later record for the same image wins."""
    return {str(r["image"]): r for r in records}


def latency_metrics(records: Iterable[Record | None]) -> dict[str, float]:
    values = [
        float(r["latency_ms"])
        for r in records
        if r is not None and isinstance(r.get("latency_ms"), int | float)
    ]
    if not values:
        return {}
    arr = np.asarray(values)
    return {
        "latency_ms_mean": float(arr.mean()),
        "latency_ms_p50": float(np.percentile(arr, 50)),
        "latency_ms_p90": float(np.percentile(arr, 90)),
        "latency_ms_max": float(arr.max()),
    }


def notes_for(dataset: Dataset) -> list[str]:
    name = dataset.name.lower()
    return [note for prefix, note in _NOTES if name.startswith(prefix)]


def score(
    dataset: Dataset,
    predictions: Mapping[str, Record] | Sequence[Record],
    *,
    case_insensitive: bool | None = None,
) -> Report:
    """Score predictions (keyed by image, or a list of records) with the dataset's protocol.

    `case_insensitive` overrides the protocol's default (SROIE on, others off).
    """
    if not isinstance(predictions, Mapping):
        predictions = index_predictions(predictions)
    if case_insensitive is not None:
        dataset = dataset.with_protocol(case_insensitive=case_insensitive)
    metrics, counts = _SCORERS[dataset.kind](dataset, predictions)
    records = [predictions.get(s.image) for s in dataset.samples]
    metrics.update(latency_metrics(records))
    counts["missing_pred"] = sum(r is None for r in records)
    counts["extra_pred"] = len(set(predictions) - {s.image for s in dataset.samples})
    return Report(
        dataset=dataset.name,
        kind=dataset.kind,
        n=len(dataset.samples),
        protocol=dataset.protocol.to_dict(),
        metrics=metrics,
        counts=counts,
        notes=notes_for(dataset),
        offset=dataset.offset,
        total=dataset.total,
    )


TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("det_precision", "det_P"),
    ("det_recall", "det_R"),
    ("det_f1", "det_F1"),
    ("char_accuracy", "char_acc"),
    ("line_exact", "line_exact"),
    ("e2e_f1", "e2e_F1"),
    ("bow_f1", "bow_F1"),
    ("word_accuracy", "word_acc"),
    ("cer", "CER"),
    ("angle_accuracy", "angle_acc"),
    ("acc_receipt", "receipt"),
    ("acc_scene", "scene"),
    ("latency_ms_p50", "p50_ms"),
    ("latency_ms_p90", "p90_ms"),
)


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if key.startswith("latency_") else f"{value:.4f}"


def format_table(reports: Sequence[Report]) -> str:
    """A fixed-width plain-text table: one row per report, the headline metrics any report has."""
    columns = [(k, h) for k, h in TABLE_COLUMNS if any(k in r.metrics for r in reports)]
    header = ["dataset", "kind", "n", *(h for _, h in columns)]
    rows = [
        [r.dataset, r.kind, str(r.n), *(_cell(k, r.metrics.get(k)) for k, _ in columns)]
        for r in reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        left = [row[i].ljust(widths[i]) for i in range(2)]
        right = [row[i].rjust(widths[i]) for i in range(2, len(row))]
        return "  ".join(left + right).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(row) for row in rows)])
