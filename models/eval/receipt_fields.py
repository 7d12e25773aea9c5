"""SROIE task-3 scoring: key fields (company, date, address, total) by exact match.

Per receipt and field, the predicted string and the label are compared after normalisation
(NFC, whitespace runs collapsed to one space, ends stripped, case folded; with
`ignore_spaces=True` all whitespace is dropped instead, a lenient variant):

- equal and non-empty: a true positive;
- both non-empty and different: a false positive AND a false negative;
- predicted but no label (empty label): a false positive;
- labelled but not predicted (None or empty): a false negative.

Precision, recall and F1 are micro-averaged over all receipts, per field and over all fields.
Plain dicts and strings in, no service imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from models.eval.text import normalize

FIELDS = ("company", "date", "address", "total")


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass
class FieldsReport:
    per_field: dict[str, Counts] = field(default_factory=lambda: {f: Counts() for f in FIELDS})
    n: int = 0

    @property
    def micro(self) -> Counts:
        total = Counts()
        for counts in self.per_field.values():
            total.add(counts)
        return total

    def as_dict(self) -> dict[str, object]:
        fields = {name: c.as_dict() for name, c in self.per_field.items()}
        return {"n": self.n, "micro": self.micro.as_dict(), "fields": fields}


def normalize_field(text: str | None, *, ignore_spaces: bool = False) -> str:
    """The comparable form of a key-field value."""
    out = normalize(text, case_insensitive=True)
    return out.replace(" ", "") if ignore_spaces else out


def compare(predicted: str | None, label: str | None, *, ignore_spaces: bool = False) -> Counts:
    """TP/FP/FN of one field of one receipt."""
    pred = normalize_field(predicted, ignore_spaces=ignore_spaces)
    gold = normalize_field(label, ignore_spaces=ignore_spaces)
    if pred and gold:
        return Counts(tp=1) if pred == gold else Counts(fp=1, fn=1)
    return Counts(fp=int(bool(pred)), fn=int(bool(gold)))


def score_fields(
    predictions: Sequence[Mapping[str, str | None]],
    labels: Sequence[Mapping[str, str | None]],
    *,
    fields: Iterable[str] = FIELDS,
    ignore_spaces: bool = False,
) -> FieldsReport:
    """Micro P/R/F1 of paired predictions and labels (same order, same length)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    names = tuple(fields)
    report = FieldsReport(per_field={name: Counts() for name in names}, n=len(labels))
    for pred, gold in zip(predictions, labels, strict=True):
        for name in names:
            counts = compare(pred.get(name), gold.get(name), ignore_spaces=ignore_spaces)
            report.per_field[name].add(counts)
    return report
