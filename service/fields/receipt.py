"""Receipt key fields (SROIE task 3): company, date, address and total from OCR lines.

Transparent rules over the geometry and text of the lines, no model:

1. The lines are regrouped into visual rows (service.fields.rows).
2. company: the first header row carrying a company suffix (SDN BHD, BHD, S/B, PLT, ENTERPRISE,
   TRADING...), grown over the rows it visibly continues on; without one, the top title row of
   the text block right above the address. A trailing registration number is dropped; the
   recogniser's commonest confusions are undone (service.fields.spelling), as in the address.
3. address: from the first address-like row after the company (NO / LOT / JALAN / a street
   number...) down to the row before the first telephone / GST / registration / date row.
4. date: the first valid date on a row that says DATE, else the first valid date on the receipt.
5. total: the best-scoring keyword-backed amount (service.fields.total).

A field the rules do not find is None; nothing is invented.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from service.fields.dates import find_dates
from service.fields.header import clean_company, find_address, find_company
from service.fields.rows import Row, build_rows
from service.fields.spelling import fix_address, fix_company
from service.fields.total import total_candidates
from service.fields.types import Field, ReceiptFields
from service.ocr.types import TextLine

_DATE_WORD = re.compile(r"\bDATE\b|\bTARIKH\b", re.I)


def ascii_fold(text: str) -> str:
    """Drop accents the recogniser sometimes adds ("Restäurants" -> "Restaurants")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _rows_field(rows: Sequence[Row], value: str, rule: float) -> Field:
    quads = tuple(q for r in rows for q in r.quads)
    score = min(r.score for r in rows)
    return Field(value, None, None, rule * score, quads)


def _company(rows: Sequence[Row]) -> tuple[Field | None, int]:
    span = find_company(rows)
    if span is None:
        return None, 0
    first, last = span
    value = fix_company(clean_company(ascii_fold(" ".join(r.text for r in rows[first : last + 1]))))
    if not value:
        return None, last + 1
    return _rows_field(rows[first : last + 1], value, 0.9), last + 1


def _address(rows: Sequence[Row], begin: int) -> Field | None:
    span = find_address(rows, begin)
    if span is None:
        return None
    first, last = span
    value = fix_address(ascii_fold(" ".join(r.text for r in rows[first : last + 1])))
    return _rows_field(rows[first : last + 1], value, 0.8)


def _date(rows: Sequence[Row]) -> Field | None:
    found = [(row, d) for row in rows for d in find_dates(row.text)]
    if not found:
        return None
    labelled = [(row, d) for row, d in found if _DATE_WORD.search(row.text)]
    row, match = (labelled or found)[0]
    quads = tuple(p.quad for p in row.pieces if match.value in p.text) or row.quads
    rule = 0.95 if labelled else 0.8
    return Field(match.value, match.iso, None, rule * row.score, quads)


def _total(rows: Sequence[Row]) -> Field | None:
    candidates = total_candidates(rows)
    if not candidates:
        return None
    best = candidates[0]
    amount = best.amount
    pieces = [p for p in best.row.pieces if amount.decimal.split(".")[-1] in p.text]
    quads = tuple(p.quad for p in pieces[-1:]) or best.row.quads
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    agree = all(c.amount.decimal == amount.decimal for c in candidates[:2])
    rule = 0.95 if agree or best.score - runner_up >= 1 else 0.7
    currency = amount.currency
    return Field(amount.value, amount.decimal, currency, rule * best.row.score, quads)


def extract_receipt_fields(lines: Sequence[TextLine], width: int, height: int) -> ReceiptFields:
    """The SROIE key fields of one receipt from its OCR lines (any order).

    width and height are the image size in pixels; the rules only use relative positions, so
    they serve as a sanity bound (lines entirely outside the image are ignored).
    """
    inside = [ln for ln in lines if _inside(ln, width, height)]
    rows = build_rows(inside)
    if not rows:
        return ReceiptFields()
    company, after = _company(rows)
    return ReceiptFields(
        company=company,
        date=_date(rows),
        address=_address(rows, after),
        total=_total(rows),
    )


def _inside(line: TextLine, width: int, height: int) -> bool:
    xs = [x for x, _ in line.quad.points]
    ys = [y for _, y in line.quad.points]
    if width <= 0 or height <= 0:
        return True
    return max(xs) >= 0 and max(ys) >= 0 and min(xs) <= width and min(ys) <= height
