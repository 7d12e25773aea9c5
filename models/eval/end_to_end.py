"""End-to-end scoring of page sets: detection + recognition of text lines.

Per page, predicted lines are matched one-to-one to care GT lines by polygon IoU (the detection
matcher). Texts are compared after the dataset's protocol normalisation. Dataset metrics:

- det_precision / det_recall / det_f1: detection alone (line recall = det_recall);
- char_accuracy: 1 - CER over matched pairs (sum of edits / sum of GT chars), floored at 0;
- line_exact: matched pairs whose texts are equal / all care GT lines (a missed line is wrong);
- e2e_precision / e2e_recall / e2e_f1: a prediction is correct when matched AND its text equal;
  e2e_recall == line_exact;
- bow_precision / bow_recall / bow_f1: multisets of whitespace tokens, all predicted vs all care
  GT lines of a page, intersections summed over pages (micro-average). Independent of how lines
  are segmented and ordered.

Predictions excluded as don't-care by the detection matcher are excluded from the text metrics too.
Detection-only datasets (no transcriptions) get the det_* metrics only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.eval.datasets import Dataset, Sample
from models.eval.detection import DetectionTally, LineMatch, match_lines, prf
from models.eval.protocol import Protocol
from models.eval.text import edit_distance, tokens

Record = Mapping[str, Any]


@dataclass(frozen=True)
class PredLine:
    points: Any
    text: str


def pred_lines(record: Record | None) -> list[PredLine]:
    """The predicted lines of a page record; a missing record or field means no lines."""
    if not record:
        return []
    out = []
    for line in record.get("lines") or []:
        text = line.get("text")
        out.append(PredLine(points=line.get("points"), text=text if isinstance(text, str) else ""))
    return out


@dataclass
class TextTally:
    """Text counts summed over pages."""

    edits: int = 0
    gt_chars: int = 0
    exact: int = 0
    n_gt: int = 0
    n_pred: int = 0
    bow_pred: Counter[str] = field(default_factory=Counter, repr=False)
    bow_tp: int = 0
    bow_n_pred: int = 0
    bow_n_gt: int = 0

    def add(self, match: LineMatch, preds: Sequence[str], gts: Sequence[str]) -> None:
        """Add one page; `preds` / `gts` are normalised texts indexed like the match."""
        for p, g, _ in match.pairs:
            self.edits += edit_distance(preds[p], gts[g])
            self.gt_chars += len(gts[g])
            self.exact += preds[p] == gts[g]
        self.n_gt += len(match.care_gt)
        self.n_pred += len(match.counted_preds)
        pred_bag = Counter(t for i in match.counted_preds for t in tokens(preds[i]))
        gt_bag = Counter(t for j in match.care_gt for t in tokens(gts[j]))
        self.bow_tp += sum((pred_bag & gt_bag).values())
        self.bow_n_pred += pred_bag.total()
        self.bow_n_gt += gt_bag.total()

    def metrics(self) -> dict[str, float]:
        cer = self.edits / self.gt_chars if self.gt_chars else float(self.edits > 0)
        e2e_p, e2e_r, e2e_f = prf(self.exact, self.n_pred, self.n_gt)
        bow_p, bow_r, bow_f = prf(self.bow_tp, self.bow_n_pred, self.bow_n_gt)
        return {
            "char_accuracy": max(0.0, 1.0 - cer),
            "matched_cer": cer,
            "line_exact": e2e_r,
            "e2e_precision": e2e_p,
            "e2e_recall": e2e_r,
            "e2e_f1": e2e_f,
            "bow_precision": bow_p,
            "bow_recall": bow_r,
            "bow_f1": bow_f,
        }

    def counts(self) -> dict[str, int]:
        return {
            "matched_edits": self.edits,
            "matched_gt_chars": self.gt_chars,
            "exact_lines": self.exact,
            "bow_tp": self.bow_tp,
            "bow_pred": self.bow_n_pred,
            "bow_gt": self.bow_n_gt,
        }


def score_page(
    sample: Sample, record: Record | None, protocol: Protocol, det: DetectionTally, txt: TextTally
) -> None:
    """Match one page and add it to the tallies (`txt` only when the protocol has text)."""
    lines = pred_lines(record)
    match = match_lines([p.points for p in lines], sample.lines, protocol.iou_threshold)
    det.add(match)
    if protocol.has_text:
        preds = [protocol.normalize(p.text) for p in lines]
        gts = [protocol.normalize(g.text) for g in sample.lines]
        txt.add(match, preds, gts)


def score_pages(
    dataset: Dataset, predictions: Mapping[str, Record]
) -> tuple[dict[str, float], dict[str, int]]:
    """Metrics and counts of a page set; images without a prediction count as empty output."""
    det, txt = DetectionTally(), TextTally()
    for sample in dataset.samples:
        score_page(sample, predictions.get(sample.image), dataset.protocol, det, txt)
    metrics, counts = det.metrics(), det.counts()
    if dataset.protocol.has_text:
        metrics.update(txt.metrics())
        counts.update(txt.counts())
    return metrics, counts
