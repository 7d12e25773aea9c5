"""Printed dates: find them in a text, validate them, and normalise them to ISO 8601.

Malaysian receipts print day first (19/10/2018, 19-10-18, 19.10.18, 19 OCT 2018, 25/FEB/2017);
some print year first (2018-10-19) and a few month first (12/28/2017), which is only recognised
when the day cannot be a month. Only the date itself is kept: "19/10/2018 20:49:59" -> value
"19/10/2018".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH = r"(?P<mon>JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEPT?|OCT|NOV|DEC)[A-Z]*\.?"
_YEAR = r"(?P<y>(?:19|20)\d{2}|\d{2}(?![\d]))"

PATTERNS: tuple[re.Pattern[str], ...] = (
    # 2018-10-19, 2018/10/19
    re.compile(
        r"(?<![\d])(?P<y>(?:19|20)\d{2})(?P<s>[/.-])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?!\d)"
    ),
    # 19/10/2018, 19-10-18, 19.10.18 (a 4-digit year may run into a time: "05-03-201819:02")
    re.compile(r"(?<![\d/.-])(?P<d>\d{1,2})(?P<s>[/.-])(?P<m>\d{1,2})(?P=s)" + _YEAR),
    # 19 OCT 2018, 25/FEB/2017, 05-JAN-2017, 28 MAR 18
    re.compile(r"(?<![\d])(?P<d>\d{1,2})[ /.-]?" + _MONTH + r"[ /.,-]?\s?" + _YEAR, re.I),
    # OCT 19, 2018
    re.compile(r"(?<![A-Z])" + _MONTH + r"\s?(?P<d>\d{1,2}),?\s(?P<y>(?:19|20)\d{2})", re.I),
)


@dataclass(frozen=True)
class DateMatch:
    value: str  # as printed
    iso: str  # YYYY-MM-DD
    start: int  # offset in the searched text


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _to_date(groups: dict[str, str | None]) -> date | None:
    year = _year(groups["y"] or "0")
    if groups.get("mon"):
        month = _MONTHS.index((groups["mon"] or "")[:3].upper()) + 1
        day = int(groups["d"] or 0)
        candidates = [(day, month)]
    else:
        first, second = int(groups["d"] or 0), int(groups["m"] or 0)
        candidates = [(first, second), (second, first)]  # day-first, else month-first
    for day, month in candidates:
        try:
            return date(year, month, day) if 1990 <= year <= 2099 else None
        except ValueError:
            continue
    return None


def find_dates(text: str) -> list[DateMatch]:
    """Every valid date in `text`, left to right; overlapping matches keep the earliest pattern."""
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []
    for pattern in PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            parsed = _to_date(m.groupdict())
            if parsed is not None:
                found.append(DateMatch(m.group(0).strip(), parsed.isoformat(), m.start()))
                taken.append((m.start(), m.end()))
    return sorted(found, key=lambda d: d.start)
