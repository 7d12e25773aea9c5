"""The admission gate of a derived (FP16 / INT8) set: the same `ocr eval` slices for the base
and the derived set, every metric within `tolerance` points of the base.

Slices are the first N records of a dataset (as in tests/gate/thresholds.yaml), so calibration
can be drawn from the records after them. Which slices a derivation is judged on depends on the
tasks it changed: end-to-end pages always (every stage feeds them), plus the set that isolates
each changed stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Metrics judged per dataset kind; (name, higher is better).
METRICS: dict[str, tuple[tuple[str, bool], ...]] = {
    "page": (("det_f1", True), ("char_accuracy", True), ("line_exact", True), ("bow_f1", True)),
    "crop": (("word_accuracy", True), ("cer", False)),
    "angle": (("angle_accuracy", True), ("acc_receipt", True), ("acc_scene", True)),
}


@dataclass(frozen=True)
class GateSlice:
    dataset: str  # a folder name under ../shared/datasets
    limit: int
    offset: int = 0

    @property
    def key(self) -> str:
        return f"{self.dataset}[{self.offset}:{self.offset + self.limit}]"


PAGE_SLICES = (GateSlice("sroie_train_dev", 20), GateSlice("funsd_train", 20))
TASK_SLICES: dict[str, tuple[GateSlice, ...]] = {
    "det": (),
    "cls": (GateSlice("angle_cls_dev", 600),),
    "rec": (
        GateSlice("iiit5k_train", 300),
        GateSlice("sroie_train_line_crops", 300),
        GateSlice("cn_license_plate_crops", 300),
    ),
}
# Where each task's calibration comes from (records outside the slices above).
CALIBRATION_SETS: dict[str, tuple[str, ...]] = {
    "det": ("sroie_train_dev", "funsd_train"),
    "cls": ("angle_cls_dev",),
    "rec": ("iiit5k_train", "sroie_train_line_crops", "cn_license_plate_crops"),
}


def gate_slices(
    tasks: Iterable[str], eval_limit: int | None = None, pages: bool = True
) -> list[GateSlice]:
    """The slices judging a change of `tasks`; `eval_limit` caps every slice (quick runs)."""
    chosen: list[GateSlice] = list(PAGE_SLICES) if pages else []
    for task in ("det", "cls", "rec"):
        if task in tasks:
            chosen += [s for s in TASK_SLICES[task] if s not in chosen]
    if eval_limit is not None:
        chosen = [GateSlice(s.dataset, min(s.limit, eval_limit), s.offset) for s in chosen]
    return chosen


@dataclass(frozen=True)
class MetricRow:
    slice: str
    metric: str
    base: float
    derived: float
    higher_is_better: bool
    tolerance: float  # points

    @property
    def loss_points(self) -> float:
        """How many points worse the derived set is (negative: better)."""
        diff = (self.base - self.derived) if self.higher_is_better else (self.derived - self.base)
        return 100.0 * diff

    @property
    def ok(self) -> bool:
        return self.loss_points <= self.tolerance + 1e-9


@dataclass(frozen=True)
class Admission:
    rows: tuple[MetricRow, ...]
    tolerance: float

    @property
    def admitted(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[MetricRow]:
        return [r for r in self.rows if not r.ok]


def compare_reports(
    kinds: Mapping[str, str],
    base: Mapping[str, Mapping[str, float]],
    derived: Mapping[str, Mapping[str, float]],
    tolerance: float,
) -> Admission:
    """One row per judged metric of every slice (`kinds`: slice key -> dataset kind); a slice
    or metric the derived run lacks counts as a total loss."""
    rows = []
    for key, kind in kinds.items():
        for metric, higher in METRICS[kind]:
            if metric not in base.get(key, {}):
                continue
            b = float(base[key][metric])
            worst = 0.0 if higher else 1.0
            d = float(derived.get(key, {}).get(metric, worst))
            rows.append(MetricRow(key, metric, b, d, higher, tolerance))
    return Admission(tuple(rows), tolerance)


def admission_table(adm: Admission) -> str:
    """A Markdown table of the gate: base, derived, loss in points, verdict per metric."""
    lines = [
        "| slice | metric | base | derived | loss (points) | within ±tol |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in adm.rows:
        verdict = "yes" if r.ok else "**NO**"
        lines.append(
            f"| {r.slice} | {r.metric} | {r.base:.4f} | {r.derived:.4f} | "
            f"{r.loss_points:+.2f} | {verdict} |"
        )
    state = "ADMITTED" if adm.admitted else "REFUSED"
    lines.append(f"\n{state} at a tolerance of {adm.tolerance:g} points.")
    return "\n".join(lines)


def admission_record(
    adm: Admission,
    slices: Sequence[GateSlice],
    base: Mapping[str, Mapping[str, float]],
    derived: Mapping[str, Mapping[str, float]],
    **extra: Any,
) -> dict[str, Any]:
    """The evidence stored with an admitted set's catalogue entry."""
    return {
        "tolerance_points": adm.tolerance,
        "slices": [s.key for s in slices],
        "metrics": {
            key: {"base": dict(base[key]), "derived": dict(derived.get(key, {}))} for key in base
        },
        "worst_loss_points": max((r.loss_points for r in adm.rows), default=0.0),
        **extra,
    }
