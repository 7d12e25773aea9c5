"""The receipt header: the company name and the address printed under it.

SROIE labels the company as the registered name (usually the first line(s) in capitals, ending in
SDN BHD / BHD / S/B / PLT / ENTERPRISE / TRADING), without its registration number, and the
address as the lines after it up to the first telephone / GST / registration-number line, joined
with single spaces exactly as printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.fields.dates import find_dates
from service.fields.rows import Row

HEADER_ROWS = 14  # the header is never further down than this
ADDRESS_SEARCH = 6  # rows after the company in which the address must start
ADDRESS_ROWS = 6  # rows an address may span

SUFFIX = re.compile(
    r"\b(SDN\.?\s*BHD|SDN|BHD|BERHAD|S/B|PLT|LLP|ENTERPRISES?|TRADING|SYARIKAT)\b\.?", re.I
)
_ONLY_SUFFIX = re.compile(r"^(\(?M\)?\s*)?(SDN\.?|BHD\.?|S/B|PLT|\s)+$", re.I)
_CONTINUATION = re.compile(r"^(SDN\.?\s|SDN\.?$|BHD|BERHAD|S/B|PLT|CO\.|\(M\)|ENTERPRISE)", re.I)
REG_NO = re.compile(
    r"\b(CO(MPANY)?\.?\s*(REG(ISTRATION)?\.?\s*)?NO|ROC|(REG|BR)\.?\s*NO|BUSINESS\s*REG)\b"
    r"|^[\s(<\[]*(NO\.?\s*)?[A-Z]{0,3}\d{4,}[\s·.-]*[A-Z]{1,3}[\s)>\]]*$",
    re.I,
)
STOP = re.compile(
    r"\b(TE[L1I]|TELEPHONE|PHONE|FAX|H/?P|GST|SST|TAX|EMAIL|E-MAIL|WWW|HTTPS?|INVOICE|RECEIPT"
    r"|CASHIER|TERMINAL|TABLE|BILL|OPEN\s+DAILY|BUSINESS\s+HOURS?|GUEST\s+CHECK)\b|INVOICE|\w@\w|\+?\b\d{2,4}-\d{3,4}\s?\d{3,4}\b",
    re.I,
)
ADDRESS_START = re.compile(
    r"^(NO\b|NO[.:\d]|LOT\b|UNIT\b|LEVEL\b|LVL\b|BLOCK\b|BLK\b|JALAN\b|JLN\b|TINGKAT\b|GROUND\b|PT\d"
    r"|\d+(ST|ND|RD|TH)\s+(FL|FLR|FLOOR)\b|[A-Z]?\d+[A-Z]?([-/&,.]|\s[&,]|\s+(JALAN|JLN)\b)"
    r"|[A-Z]-([A-Z\d]{1,2}-)?\d|[A-Z]\.\d)",
    re.I,
)
_TAX_ID = re.compile(r"^\W*(GST|SST)\s*(REG\w*\s*)?(NO|ID)\b", re.I)
_POSTCODE = re.compile(r"^\d{5}(\s*,|\s+[A-Z]|\W*$)", re.I)  # "53300 KL", "47301"
# a bare number does not start an address: "3-1708032", "NO 10256", "31.801.017"
_NUMBER_ONLY = re.compile(r"^(NO\.?\s*)?[\d\s.,/-]+$", re.I)
_COUNTRY_END = re.compile(r"\bMALAYSIA\W*$", re.I)
_WORD = re.compile(r"[A-Za-z]{2,}")
_TRAILING_REG = re.compile(
    r"\s*([(\[][^()\[\]]*\d{3,}[^()\[\]]*[)\]]?|\b\d{4,}-[A-Z]\b.*|[(\[][A-Z\d]{1,4}[)\]])\W*$"
)
_LEADING_NUMBER = re.compile(r"^#\d+\s+")


def is_reg_row(text: str) -> bool:
    return bool(REG_NO.search(text))


def _is_junk(text: str) -> bool:
    """No word, or more digits than letters (a code, a number), registration number aside."""
    text = clean_company(text)
    letters = sum(ch.isalpha() for ch in text)
    return not _WORD.search(text) or letters < sum(ch.isdigit() for ch in text)


def _is_title(row: Row) -> bool:
    return _is_title_text(row.text)


def _is_title_text(text: str) -> bool:
    return not (_is_junk(text) or is_reg_row(text) or STOP.search(text) or find_dates(text))


def _is_address_start(row: Row) -> bool:
    text = row.text
    if find_dates(text) or STOP.search(text) or is_reg_row(text) or _NUMBER_ONLY.match(text):
        return False
    return bool(ADDRESS_START.match(text))


def _same_block(upper: Row, lower: Row) -> bool:
    return lower.y0 - upper.y1 < 1.0 * max(upper.height, lower.height)


def clean_company(text: str) -> str:
    """Drop a trailing registration number: "AEON CO. (M) BHD (126926-H)" -> "AEON CO. (M) BHD"."""
    previous = None
    text = _LEADING_NUMBER.sub("", text)
    while previous != text:
        previous, text = text, _TRAILING_REG.sub("", text).strip()
    return text


def _balance(text: str) -> int:
    return text.count("(") - text.count(")")


def _grow_company(rows: Sequence[Row], first: int, last: int) -> tuple[int, int]:
    """Add the rows a company name visibly continues on (a split "... (SETIA" / "ALAM) SDN BHD")."""
    text = " ".join(r.text for r in rows[first : last + 1])
    while first > 0 and (_CONTINUATION.match(text) or _balance(text) < 0):
        above = rows[first - 1]
        if not (_is_title(above) and _same_block(above, rows[first])):
            break
        first, text = first - 1, above.text + " " + text
    while last + 1 < len(rows):
        below = rows[last + 1]
        wanted = _balance(text) > 0 or _ONLY_SUFFIX.match(below.text)
        if not (wanted and _is_title(below) and _same_block(rows[last], below)):
            break
        last, text = last + 1, text + " " + below.text
    return first, last


def _block_top(rows: Sequence[Row], below: int) -> int | None:
    """The topmost title row of the block of rows that ends right above row `below`."""
    top = None
    i = below - 1
    while i >= 0 and below - i <= 4 and _same_block(rows[i], rows[i + 1]):
        if _is_title(rows[i]):
            top = i
        elif not (is_reg_row(rows[i].text) or _TAX_ID.search(rows[i].text)):
            break
        i -= 1
    return top


def find_company(rows: Sequence[Row]) -> tuple[int, int] | None:
    """First and last row index of the company name, or None."""
    start = find_address_start(rows, 0)
    header = rows[: HEADER_ROWS if start is None else start]
    for i, row in enumerate(header):
        if SUFFIX.search(row.text) and _is_title_text(clean_company(row.text)):
            return _grow_company(rows, i, i)
    top = _block_top(rows, start) if start is not None else None
    return None if top is None else (top, top)


def find_address_start(rows: Sequence[Row], begin: int) -> int | None:
    limit = min(len(rows), HEADER_ROWS, begin + ADDRESS_SEARCH)
    titled = False  # a "TAX INVOICE" printed above the shop's name does not end the header
    for i in range(begin, limit):
        if _is_address_start(rows[i]):
            return i
        if titled and re.search(r"\b(INVOICE|RECEIPT|CASHIER)\b", rows[i].text, re.I):
            break
        titled = titled or _is_title(rows[i])
    return None


def find_address(rows: Sequence[Row], begin: int) -> tuple[int, int] | None:
    """First and last row index of the address that starts at or after row `begin`."""
    start = find_address_start(rows, begin)
    if start is None:
        return None
    end = start
    while (
        end + 1 < len(rows)
        and end + 1 - start < ADDRESS_ROWS
        and not _COUNTRY_END.search(rows[end].text)
    ):
        below = rows[end + 1]
        text = below.text
        numbered = not _POSTCODE.match(text) and (is_reg_row(text) or _is_junk(text))
        if STOP.search(text) or find_dates(text) or numbered:
            break
        if not _same_block(rows[end], below):
            break
        end += 1
    return start, end
