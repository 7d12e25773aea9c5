"""Money amounts as printed on receipts: "60.30", "RM 60.30", "RM60.30", "1,234.50", "$8.20".

A rate ("GST @6.00%") is not an amount. The printed value keeps a currency sign only when it
touches the number ("RM7.00"), which is how the SROIE labels write it; a sign printed apart
("RM 57.80") is reported as the currency only. A sign may follow a colon ("TOTAL:$6.90").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AMOUNT = re.compile(
    r"(?:(?<![\w.,/-])(?P<cur>RM|MYR|\$)(?P<sp>\s?)|(?<![\w.,/:-]))(?P<neg>-)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+|\d+)\.(?P<dec>\d{2})(?![\d.,:/%])",
    re.I,
)
_CURRENCY = {"RM": "MYR", "MYR": "MYR"}
_RM_NEARBY = re.compile(r"(?<![A-Z])(RM|MYR)(?![A-Z])", re.I)


@dataclass(frozen=True)
class Amount:
    value: str  # as printed, SROIE style
    decimal: str  # "1234.50"
    currency: str | None  # "MYR" or None
    negative: bool
    start: int
    end: int

    @property
    def number(self) -> float:
        return float(self.decimal)


def find_amounts(text: str) -> list[Amount]:
    """Every amount with exactly two decimals in `text`, left to right."""
    out: list[Amount] = []
    for m in AMOUNT.finditer(text):
        cur = (m.group("cur") or "").upper()
        number = m.group("num") + "." + m.group("dec")
        attached = cur and not m.group("sp")
        value = (m.group("cur") if attached else "") + (m.group("neg") or "") + number
        currency = _CURRENCY.get(cur) or (_CURRENCY["RM"] if _RM_NEARBY.search(text) else None)
        negative = bool(m.group("neg"))
        out.append(Amount(value, number.replace(",", ""), currency, negative, m.start(), m.end()))
    return out
