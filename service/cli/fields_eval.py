"""`ocr eval --task receipt-fields`: SROIE task 3 on a page set with `key_fields` labels, the
fields read from our own OCR of each page (the reading flow the server runs)."""

from __future__ import annotations

from typing import Any

from models.eval.datasets import Dataset
from models.eval.receipt_fields import FIELDS, FieldsReport, score_fields
from service.cli.errors import SetupFailed
from service.fields.document import result_document
from service.ocr.decode import decode_image
from service.ocr.pipeline import OcrPipeline
from service.settings import Settings


def evaluate_fields(ds: Dataset, pipeline: OcrPipeline, s: Settings) -> FieldsReport:
    if ds.kind != "page" or any("key_fields" not in smp.record for smp in ds.samples):
        raise SetupFailed(f"{ds.name}: receipt fields need a page set with key_fields labels")
    labels: list[dict[str, str | None]] = [dict(smp.record["key_fields"]) for smp in ds.samples]
    options = s.ocr_options().updated({"fields": "receipt"})
    predictions = []
    for smp in ds.samples:
        result = pipeline.run(
            decode_image(ds.image_path(smp).read_bytes(), s.decode_limits()), options
        )
        predictions.append(_values(result_document(result, options)["fields"]))
    return score_fields(predictions, labels)


def _values(fields: dict[str, Any]) -> dict[str, str | None]:
    return {name: (found or {}).get("value") for name, found in fields.items()}


def fields_table(name: str, report: FieldsReport) -> str:
    rows = [f"{name} (n={report.n})", f"{'field':<10} {'P':>6} {'R':>6} {'F1':>6}"]
    for field in (*FIELDS, "micro"):
        c = report.micro if field == "micro" else report.per_field[field]
        rows.append(f"{field:<10} {c.precision:>6.3f} {c.recall:>6.3f} {c.f1:>6.3f}")
    return "\n".join(rows)
