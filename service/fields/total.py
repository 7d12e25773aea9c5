"""The total: the amount the customer pays, after tax and rounding (SROIE's "total").

Each row whose words name a total ("TOTAL", "TOTAL INCL. GST", "TOTAL ROUNDED", "AMT DUE",
"NETT TOTAL", ...) proposes the rightmost amount on that row, or on the next row when its own has
none. Candidates are ranked by a transparent score:

- the keyword: a qualified total (incl. GST / rounded / nett / payable / due) 3, a bare TOTAL 2;
  words that name something else (SUB, EXCL, QTY, ITEM, SAVING, DISCOUNT, TAX or GST on their
  own or before the TOTAL word, CASH, CHANGE, ACCEPTED) disqualify the row;
- a row with several amounts whose words as a whole disqualify it ("TOTAL SAVING 0.00 TOTAL 77.20")
  is read piece by piece: each amount with the words since the previous amount;
- a row shortly after a ROUNDING row with no words of its own but a currency ("RM 60.30", read
  "RH 60.30" too) counts as a total;
  a ROUNDING row whose amount is within 5 sen of a candidate is that candidate rounded (+1);
- +1 when the row comes shortly after a ROUNDING row (the rounded total);
- -2 when the row comes after the CHANGE row (the GST summary table below the payment);
- -2 for a zero amount (a total of 0.00 is a misread or a placeholder row);
- +0.5 when the amount is what was paid (CASH - CHANGE, or CASH with no change), +0.5 when
  another candidate row agrees on it;
- ties go to the lower row.

With no keyword-backed candidate at all, the amount paid is taken where it is printed on a row
above the CASH row (a receipt whose TOTAL word was not read).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from service.fields.amounts import AMOUNT, Amount, find_amounts
from service.fields.rows import Row

_TOTAL = re.compile(r"\b(T[O0U]TAL|TTAL|TOTL|TOT|TTL|TL|TAL|JUMLAH)\b|TOTAL", re.I)
_QUALIFIED = re.compile(
    r"\b(INCL\w*|ROUND\w*|NETT?|AFTER|PAYABLE|DUE|GRAND|PAID|NET)\b|AMOUNT\s+TO\s+BE\s+PAID", re.I
)
_STANDALONE = re.compile(
    r"\b(AMOUNT|AMT)\s+(DUE|PAYABLE)\b|AMOUNT\s+TO\s+BE\s+PAID|\bNETT?\s+(AMOUNT|AMT)\b"
    r"|\bGRAND\s+TOTAL\b|\bBALANCE\s+DUE\b|^\W*DUE\W*$|\bAMOUNT\s+INCL",
    re.I,
)
_NOT_TOTAL = re.compile(
    r"SUB|EXCL|\b(QTY|QUANTITY|ITEMS?|SAVINGS?|DISC\w*|POINTS?|CASH|CHANGE|TENDER\w*|"
    r"SERVICE|SERV|VOUCHER|DEPOSIT|WEIGHT|COUNT|ACCEPTED)\b",
    re.I,
)
_BARE = re.compile(r"^[^A-Z]*([A-Z]{1,3}\b[^A-Z]*)?$", re.I)  # at most a currency ("RM", "RH")
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
    total, tax = _TOTAL.search(label), _TAX_ONLY.search(label)
    if not total or _NOT_TOTAL.search(label) or (tax and tax.start() < total.start()):
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


def _segments(row: Row) -> list[tuple[str, Amount]]:
    """Each amount on the row with the words printed since the amount before it."""
    out: list[tuple[str, Amount]] = []
    begin = 0
    for amount in find_amounts(row.text):
        out.append((row.text[begin : amount.start], amount))
        begin = amount.end
    return [(words, amount) for words, amount in out if not amount.negative]


def _keyword_rows(rows: Sequence[Row], i: int) -> list[tuple[float, Amount, Row]]:
    """(keyword score, amount, row it is printed on) that row i's words propose."""
    base = _keyword_score(_label_text(rows[i]))
    if base:
        near = _amount_near(rows, i)
        return [(base, *near)] if near else []
    pieces = _segments(rows[i])
    if len(pieces) < 2:
        return []
    return [(s, amount, rows[i]) for words, amount in pieces if (s := _keyword_score(words))]


def _after_rounding(
    rows: Sequence[Row], i: int, rounding: int | None
) -> list[tuple[float, Amount, Row]]:
    """A bare amount printed shortly under the ROUNDING row: the rounded total."""
    label = _label_text(rows[i])
    if (
        rounding is None
        or not 0 < i - rounding <= 2
        or not _BARE.match(label)
        or _TAX_ONLY.search(label)
    ):
        return []
    amount = _row_amount(rows[i])
    return [(2.0, amount, rows[i])] if amount is not None else []


def _rounded(rows: Sequence[Row], found: Sequence[TotalCandidate]) -> list[TotalCandidate]:
    """A ROUNDING row whose amount is a candidate's rounded within 5 sen: that total, rounded."""
    out: list[TotalCandidate] = []
    for row in rows:
        amount = _row_amount(row) if _ROUNDING.search(_label_text(row)) else None
        if amount is None:
            continue
        near = [c for c in found if 0 < abs(c.amount.number - amount.number) <= 0.05]
        out += [TotalCandidate(amount, row, row, c.score + 1.0) for c in near[:1]]
    return out


def _paid_printed(rows: Sequence[Row], paid: set[str]) -> list[TotalCandidate]:
    """With no keyword-backed total: the amount paid where a row above CASH prints it."""
    cash = _first_row(rows, _CASH)
    above = rows[:cash] if cash is not None else []
    hits = [(r, a) for r in above if (a := _row_amount(r)) is not None and a.decimal in paid]
    return [TotalCandidate(a, r, r, 1.0) for r, a in hits[-1:]]


def _agreeing(found: Sequence[TotalCandidate]) -> list[TotalCandidate]:
    """+0.5 to each candidate whose amount another candidate row proposes too."""
    counts = Counter(c.amount.decimal for c in found)
    return [replace(c, score=c.score + 0.5) if counts[c.amount.decimal] > 1 else c for c in found]


def total_candidates(rows: Sequence[Row]) -> list[TotalCandidate]:
    """Every total candidate with its score, best first."""
    rounding = _first_row(rows, _ROUNDING, priced=False)
    change = _first_row(rows, _CHANGE)
    paid = _paid(rows)
    out: list[TotalCandidate] = []
    for i, row in enumerate(rows):
        for base, amount, value_row in _keyword_rows(rows, i) or _after_rounding(rows, i, rounding):
            score = base
            score += 1.0 if rounding is not None and 0 < i - rounding <= 3 else 0.0
            score -= 2.0 if change is not None and i > change else 0.0
            score -= 2.0 if amount.number == 0 else 0.0
            score += 0.5 if amount.decimal in paid else 0.0
            out.append(TotalCandidate(amount, value_row, row, score))
    out += _rounded(rows, out)
    if not out:
        out = _paid_printed(rows, paid)
    return sorted(_agreeing(out), key=lambda c: (-c.score, -c.label.index))
