"""The total: the amount the customer pays, after tax and rounding (SROIE's "total").

Each row whose words name a total ("TOTAL", "TOTAL INCL. GST", "TOTAL ROUNDED", "AMT DUE",
"NETT TOTAL", ...) proposes the rightmost amount on that row, or on the next row when its own has
none. Candidates are ranked by a transparent score:

- the keyword: a qualified total (incl. GST / rounded / nett / payable / due) 3, a bare TOTAL 2;
  words that name something else (SUB, EXCL, QTY, ITEM, SAVING, DISCOUNT, TAX or GST on their
  own, CASH, CHANGE) disqualify the row;
- +1 when the row comes shortly after a ROUNDING row (the rounded total);
- -2 when the row comes after the CHANGE row (the GST summary table below the payment);
- +0.5 when the amount is what was paid (CASH - CHANGE, or CASH with no change);
- ties go to the lower row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.fields.amounts import AMOUNT, Amount, find_amounts
from service.fields.rows import Row

_TOTAL = re.compile(r"\b(T[O0U]TAL|TTAL|TOTL|TOT|TTL|TL|TAL|JUMLAH)\b|TOTAL", re.I)
_QUALIFIED = re.compile(
    r"\b(INCL\w*|ROUND\w*|NETT?|AFTER|PAYABLE|DUE|GRAND|PAID|NET)\b|AMOUNT\s+TO\s+BE\s+PAID", re.I
)
_STANDALONE = re.compile(
    r"\b(AMOUNT|AMT)\s+(DUE|PAYABLE)\b|AMOUNT\s+TO\s+BE\s+PAID|\bNETT?\s+(AMOUNT|AMT)\b"
    r"|\bGRAND\s+TOTAL\b|\bBALANCE\s+DUE\b",
    re.I,
)
_NOT_TOTAL = re.compile(
    r"SUB|EXCL|\b(QTY|QUANTITY|ITEMS?|SAVINGS?|DISC\w*|POINTS?|CASH|CHANGE|TENDER\w*|"
    r"SERVICE|SERV|VOUCHER|DEPOSIT|WEIGHT|COUNT)\b",
    re.I,
)
_TAX_ONLY = re.compile(r"\b(GST|TAX|SST)\b", re.I)
_ROUNDING = re.compile(r"\bROUND", re.I)
_CASH = re.compile(r"\b(CASH|TUNAI|TENDER\w*|PAID)\b", re.I)
_CHANGE = re.compile(r"\b(CHANGE|BAKI)\b", re.I)


@dataclass(frozen=True)
class TotalCandidate:
    amount: Amount
    row: Row  # the row the amount is printed on
    label: Row  # the row with the keyword
    score: float


def _label_text(row: Row) -> str:
    return AMOUNT.sub(" ", row.text)


def _keyword_score(label: str) -> float:
    if _STANDALONE.search(label):
        return 3.0
    if not _TOTAL.search(label) or _NOT_TOTAL.search(label):
        return 0.0
    if _QUALIFIED.search(label):
        return 3.0
    return 0.0 if _TAX_ONLY.search(label) else 2.0


def _row_amount(row: Row) -> Amount | None:
    amounts = [a for a in find_amounts(row.text) if not a.negative]
    return amounts[-1] if amounts else None


def _amount_near(rows: Sequence[Row], i: int) -> tuple[Amount, Row] | None:
    own = _row_amount(rows[i])
    if own is not None:
        return own, rows[i]
    if i + 1 < len(rows):
        below = rows[i + 1]
        close = below.y0 - rows[i].y1 < 0.6 * rows[i].height
        amount = _row_amount(below)
        if close and amount is not None and not _label_text(below).strip(" :RM$"):
            return amount, below
    return None


def _first_row(rows: Sequence[Row], pattern: re.Pattern[str], *, priced: bool = True) -> int | None:
    """The first row with `pattern` in its words (and, if `priced`, an amount on or under it)."""
    for i, row in enumerate(rows):
        if pattern.search(_label_text(row)) and not (priced and _amount_near(rows, i) is None):
            return i
    return None


def _paid(rows: Sequence[Row]) -> set[str]:
    """Amounts that look like what was paid: CASH - CHANGE (or CASH when there is no change)."""
    cash = _first_row(rows, _CASH)
    change = _first_row(rows, _CHANGE)
    cash_amount = _amount_near(rows, cash) if cash is not None else None
    if cash_amount is None:
        return set()
    change_amount = _amount_near(rows, change) if change is not None else None
    paid = cash_amount[0].number - (change_amount[0].number if change_amount else 0.0)
    return {f"{paid:.2f}"}


def total_candidates(rows: Sequence[Row]) -> list[TotalCandidate]:
    """Every keyword-backed total candidate with its score, best first."""
    rounding = _first_row(rows, _ROUNDING, priced=False)
    change = _first_row(rows, _CHANGE)
    paid = _paid(rows)
    out: list[TotalCandidate] = []
    for i, row in enumerate(rows):
        label = _label_text(row)
        base = _keyword_score(label)
        if not base and rounding is not None and 0 < i - rounding <= 2:
            base = 0.0 if _NOT_TOTAL.search(label) or _ROUNDING.search(label) else 2.0
        near = _amount_near(rows, i) if base else None
        if near is None:
            continue
        amount, value_row = near
        score = base
        score += 1.0 if rounding is not None and 0 < i - rounding <= 3 else 0.0
        score -= 2.0 if change is not None and i > change else 0.0
        score += 0.5 if amount.decimal in paid else 0.0
        out.append(TotalCandidate(amount, value_row, row, score))
    return sorted(out, key=lambda c: (-c.score, -c.label.index))
