"""Run a prediction function over a dataset, time it per image, and score the outputs.

`predict(path) -> record` receives the absolute image path and returns a prediction record in the
label format of the dataset kind (see `report.py`); the runner sets `image` (the dataset's relative
path) and `latency_ms` (wall time of the call) on a copy of it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from models.eval.datasets import Dataset, Sample, read_records
from models.eval.report import Report, index_predictions, score

Predict = Callable[[Path], Mapping[str, Any]]
OnError = Literal["raise", "empty"]

log = logging.getLogger(__name__)


def predict_one(
    dataset: Dataset, sample: Sample, predict: Predict, on_error: OnError
) -> dict[str, Any]:
    """One timed prediction record; with on_error="empty" a failure becomes an empty record."""
    start = time.perf_counter()
    try:
        record = dict(predict(dataset.image_path(sample)))
    except Exception as exc:
        if on_error == "raise":
            raise
        log.warning("prediction failed for %s: %r", sample.image, exc)
        record = {"error": f"{type(exc).__name__}: {exc}"}
    record["latency_ms"] = (time.perf_counter() - start) * 1000.0
    record["image"] = sample.image
    return record


def evaluate(
    dataset: Dataset,
    predict: Predict,
    progress: bool = False,
    *,
    on_error: OnError = "raise",
    case_insensitive: bool | None = None,
) -> tuple[Report, list[dict[str, Any]]]:
    """Predict every sample in order, then score; returns the report and the records."""
    records = []
    for sample in _progress(dataset.samples, dataset.name, progress):
        records.append(predict_one(dataset, sample, predict, on_error))
    report = score(dataset, index_predictions(records), case_insensitive=case_insensitive)
    report.counts["errors"] = sum("error" in r for r in records)
    return report, records


def _progress(samples: Sequence[Sample], name: str, enabled: bool) -> Iterable[Sample]:
    """A tqdm bar when asked for and tqdm is importable (peers' venvs may lack it)."""
    if not enabled:
        return samples
    try:
        from tqdm import tqdm
    except ImportError:
        return samples
    return tqdm(samples, desc=name, unit="img", leave=False)


def load_predictions(path: str | Path) -> dict[str, dict[str, Any]]:
    """Prediction records of a JSON-lines file, keyed by image."""
    return {str(r["image"]): r for r in read_records(Path(path))}


def save_predictions(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write records as JSON lines (UTF-8, non-ASCII kept readable)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
