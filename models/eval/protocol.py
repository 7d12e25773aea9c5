"""Scoring conventions of each benchmark, chosen from the dataset's folder name.

See `../shared/datasets/README.md` ("How to score"):
- SROIE: labels are upper-case -> compare case-insensitively; `***` marks unlabelled (Chinese) text.
- IIIT5K and ICDAR-2015 words: case-insensitive, alphanumeric characters only (the word
  benchmarks' protocol).
- plates: exact string match, after removing the separator dot ("·") and spaces that plate
  readers print between the region code and the number (the labels never contain them).
- FUNSD: as written (mixed case, punctuation kept).
- MSRA-TD500: detection only (IoU >= 0.5); `difficult` / `ignore` lines are don't-care.
Everywhere: a GT line whose text is `###` is a don't-care region.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from models.eval.text import normalize

DEFAULT_IGNORE_TEXTS: tuple[str, ...] = ("###",)


@dataclass(frozen=True)
class Protocol:
    """How predictions are compared with the labels of one dataset."""

    case_insensitive: bool = False
    alnum_only: bool = False
    has_text: bool = True  # False: detection only (no transcriptions)
    iou_threshold: float = 0.5
    ignore_texts: tuple[str, ...] = DEFAULT_IGNORE_TEXTS  # GT texts that mark don't-care regions
    strip_chars: str = ""  # characters removed from both sides before comparing

    def normalize(self, text: str | None) -> str:
        if text and self.strip_chars:
            text = text.translate({ord(c): None for c in self.strip_chars})
        return normalize(text, case_insensitive=self.case_insensitive, alnum_only=self.alnum_only)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ignore_texts"] = list(self.ignore_texts)
        return out


# (folder-name prefix, protocol); first match wins, unknown names get the default (exact).
_RULES: tuple[tuple[str, Protocol], ...] = (
    ("sroie", Protocol(case_insensitive=True, ignore_texts=("###", "***"))),
    ("iiit5k", Protocol(case_insensitive=True, alnum_only=True)),
    ("icdar2015_word", Protocol(case_insensitive=True, alnum_only=True)),
    ("msra_td500", Protocol(has_text=False)),
    ("funsd", Protocol()),
    ("cn_license_plate", Protocol(strip_chars="·• ")),
    ("angle_cls", Protocol()),
)


def protocol_for(name: str) -> Protocol:
    """The scoring protocol of a dataset, by its folder name (case-insensitive prefix)."""
    lowered = name.lower()
    for prefix, protocol in _RULES:
        if lowered.startswith(prefix):
            return protocol
    return Protocol()
