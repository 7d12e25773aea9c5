"""Load a `labels.jsonl` dataset folder (see `../shared/datasets/README.md`) into typed samples.

Three kinds, detected from the records:
- "page":  {"image", "lines": [{"points", "text", ...}]}  (detection / end-to-end)
- "crop":  {"image", "text"}                               (recognition)
- "angle": {"image", "angle": 0|180, "source"?}            (0/180 classification)

Sample order is the order of `labels.jsonl` (fixed by the dataset), so `limit`/`offset` always
select the same slice: CI gates can rely on it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from models.eval.protocol import Protocol, protocol_for

Kind = Literal["page", "crop", "angle"]
Point = tuple[float, float]

LABELS_FILE = "labels.jsonl"


@dataclass(frozen=True)
class GtLine:
    points: tuple[Point, ...]
    text: str | None
    ignore: bool = False  # don't-care region: neither a miss nor a false alarm


@dataclass(frozen=True)
class Sample:
    image: str  # path relative to the dataset root, as in the labels ("images/X.jpg")
    lines: tuple[GtLine, ...] = ()  # page sets
    text: str | None = None  # crop and angle sets
    angle: int | None = None  # angle set
    source: str | None = None  # angle set: where the crop came from
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    kind: Kind
    protocol: Protocol
    samples: tuple[Sample, ...]
    total: int  # records in labels.jsonl before slicing
    offset: int = 0

    def __len__(self) -> int:
        return len(self.samples)

    def image_path(self, sample: Sample) -> Path:
        return self.root / sample.image

    def with_protocol(self, **changes: Any) -> Dataset:
        """The same samples scored with some protocol fields changed."""
        return dataclasses.replace(self, protocol=dataclasses.replace(self.protocol, **changes))


def detect_kind(record: Mapping[str, Any]) -> Kind:
    if "lines" in record:
        return "page"
    if "angle" in record:
        return "angle"
    if "text" in record:
        return "crop"
    raise ValueError(f"unrecognised record (no lines/angle/text): {sorted(record)}")


def parse_points(raw: Any) -> tuple[Point, ...]:
    return tuple((float(p[0]), float(p[1])) for p in raw)


def _gt_line(raw: Mapping[str, Any], protocol: Protocol) -> GtLine:
    text = raw.get("text")
    ignore = bool(raw.get("ignore") or raw.get("difficult"))
    if text is not None and text.strip() in protocol.ignore_texts:
        ignore = True
    if text is None and protocol.has_text:
        ignore = True  # an untranscribed line in a text set cannot be scored
    return GtLine(points=parse_points(raw["points"]), text=text, ignore=ignore)


def make_sample(record: Mapping[str, Any], kind: Kind, protocol: Protocol) -> Sample:
    image = str(record["image"])
    if kind == "page":
        lines = tuple(_gt_line(ln, protocol) for ln in record["lines"])
        return Sample(image=image, lines=lines, record=record)
    if kind == "angle":
        angle = int(record["angle"])
        if angle not in (0, 180):
            raise ValueError(f"{image}: angle must be 0 or 180, got {angle}")
        return Sample(
            image=image,
            text=record.get("text"),
            angle=angle,
            source=record.get("source"),
            record=record,
        )
    return Sample(image=image, text=str(record["text"]), record=record)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, skipping blank lines."""
    records = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    return records


def _single_kind(records: Sequence[Mapping[str, Any]], where: Path) -> Kind:
    kinds = {detect_kind(r) for r in records}
    if len(kinds) != 1:
        raise ValueError(f"{where}: expected one record kind, found {sorted(kinds) or 'none'}")
    return kinds.pop()


def load_dataset(
    root: str | Path,
    limit: int | None = None,
    offset: int = 0,
    *,
    protocol: Protocol | None = None,
    name: str | None = None,
    split: str | None = None,
) -> Dataset:
    """Load `root/labels.jsonl`; keep records [offset, offset + limit) in file order, of one
    `split` only when given (records carry `"split": "dev"` / `"train"`).

    The protocol defaults to the conventions of the dataset named like the folder.
    """
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("limit and offset must be non-negative")
    root = Path(root).resolve()
    records = read_records(root / LABELS_FILE)
    if split is not None:
        records = [r for r in records if r.get("split") == split]
        if not records:
            raise ValueError(f"{root / LABELS_FILE}: no record of split {split!r}")
    kind = _single_kind(records, root / LABELS_FILE)
    name = name or (root.name if split is None else f"{root.name}-{split}")
    chosen = protocol or protocol_for(name)
    if kind == "page" and chosen.has_text and _all_untranscribed(records):
        chosen = dataclasses.replace(chosen, has_text=False)
    end = None if limit is None else offset + limit
    picked = records[offset:end]
    return Dataset(
        name=name,
        root=root,
        kind=kind,
        protocol=chosen,
        samples=tuple(make_sample(r, kind, chosen) for r in picked),
        total=len(records),
        offset=offset,
    )


def _all_untranscribed(records: Sequence[Mapping[str, Any]]) -> bool:
    lines = [ln for r in records for ln in r["lines"]]
    return bool(lines) and all(ln.get("text") is None for ln in lines)
