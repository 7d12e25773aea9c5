"""Undo the recogniser's commonest confusions in header text (company, address) — SROIE scores
exact strings, so one wrong character loses the whole field.

Only changes the character context makes unambiguous are made:

- a 0 / 1 between two letters is the letter O / I ("FO0DICIOUS", "SET1A");
- an O / o / l / I between two digits, or ending a run of at least two digits, is the digit
  ("29O" -> "290", "1l8B" -> "118B"); codes that mix letters and digits on purpose ("U13/X",
  "1A/3", "SS21") have no such character;
- the company suffix misread by one character before BHD, or at the very end ("Sn Bhd",
  "SIN BHD", "BHHD", "S/D") is the suffix;
- a word of at least 6 letters one edit away from a Malaysian state or territory name, and no
  closer to anything else in that short list, is that name ("SCLANGOR" -> "SELANGOR").

Case is kept where the change allows it; the scorer compares case-insensitively anyway.
"""

from __future__ import annotations

import re

_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])[01](?=[A-Za-z])")
_DIGIT_LETTER = re.compile(r"(?<=\d)[OoIl](?=\d)|(?<=\d\d)[OoIl]\b")
_AS_LETTER = {"0": "O", "1": "I"}
_AS_DIGIT = {"O": "0", "o": "0", "I": "1", "l": "1"}
_SDN_BEFORE_BHD = re.compile(r"\b(S[A-Z0-9]?N|SD|5DN|SON|SIN|SDH)(\.?\s+BHD)\b", re.I)
_BHD = re.compile(r"\b(BHHD|BHO|8HD|BH0|BIID)\b(\.?)", re.I)
_SB_END = re.compile(r"\bS/[D8]\s*$", re.I)
_WORD = re.compile(r"[A-Za-z]{6,}")
PLACES = (
    "JOHOR", "KEDAH", "KELANTAN", "MELAKA", "NEGERI", "SEMBILAN", "PAHANG", "PENANG", "PERAK",
    "PERLIS", "SABAH", "SARAWAK", "SELANGOR", "TERENGGANU", "KUALA", "LUMPUR", "PUTRAJAYA",
    "LABUAN", "MALAYSIA", "DARUL", "EHSAN", "TAKZIM", "PINANG",
)  # fmt: skip


def fix_confusions(text: str) -> str:
    """Digits inside words and letters inside numbers, each by its neighbours."""
    text = _LETTER_DIGIT.sub(lambda m: _AS_LETTER[m.group()], text)
    return _DIGIT_LETTER.sub(lambda m: _AS_DIGIT[m.group()], text)


def fix_company(text: str) -> str:
    text = _SDN_BEFORE_BHD.sub(lambda m: _cased("SDN", m.group(1)) + m.group(2), text)
    text = _BHD.sub(lambda m: _cased("BHD", m.group(1)) + m.group(2), text)
    return _SB_END.sub("S/B", fix_confusions(text))


def fix_address(text: str) -> str:
    return _WORD.sub(lambda m: _place(m.group()), fix_confusions(text))


def _cased(word: str, like: str) -> str:
    return word if like.isupper() else word.capitalize()


def _place(word: str) -> str:
    upper = word.upper()
    near = [p for p in PLACES if _one_edit(upper, p)]
    if upper in PLACES or len(near) != 1:
        return word
    return near[0] if word.isupper() else near[0].capitalize()


def _one_edit(a: str, b: str) -> bool:
    """Exactly one substitution, insertion or deletion apart."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]
