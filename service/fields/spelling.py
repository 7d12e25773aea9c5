"""Undo the recogniser's commonest confusions in header text (company, address) — SROIE scores
exact strings, so one wrong character loses the whole field.

Only changes the character context makes unambiguous are made:

- a 0 / 1 between two letters is the letter O / I ("FO0DICIOUS", "SET1A");
- an O / o / l / I between two digits, or ending a run of at least two digits, is the digit
  ("29O" -> "290", "1l8B" -> "118B"); codes that mix letters and digits on purpose ("U13/X",
  "1A/3", "SS21") have no such character;
- the company suffix misread by one character before BHD, or at the very end ("Sn Bhd",
  "SIN BHD", "BHHD", "S/D") is the suffix;
- spacing the recogniser lost around the suffix and brackets: "SDNBHD",
  "D.I.Y.(M)SDN", "INTERNATIONAL·SDN" are spaced as printed ("SDN BHD", "D.I.Y. (M) SDN");
- a capital I between lower-case letters is an l ("WorId");
- in an address, a full stop after a word of four letters or more and before the next word is
  the comma the recogniser read small ("TAMAN DAYA. 81100" -> "TAMAN DAYA, 81100");
- a word of at least 7 letters, or of 5 with a ":", "_" or "!" the recogniser put for a letter,
  one edit away from exactly one word of a short list of Malaysian address words (states and
  territories, the commonest towns, JALAN / TAMAN / KAWASAN / FLOOR...) and not itself on the
  list is that word ("SCLANGOR" -> "SELANGOR", "JA:AN" -> "JALAN", "Fleor" -> "Floor").

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
_SB_END = re.compile(r"\b(S/[D8]|5/B)\s*$", re.I)
_SDN_BHD_JOINED = re.compile(r"\b(SDN)(?=BHD\b)", re.I)
_BRACKET_OPEN = re.compile(r"(?<=[A-Za-z.])\(")
_BRACKET_CLOSE = re.compile(r"\)(?=[A-Za-z])")
_MID_DOT = re.compile(r"(?<=[A-Za-z])[·•](?=[A-Za-z])")
_STOP_FOR_COMMA = re.compile(r"(?<=[A-Za-z]{4})\.(?=\s+[A-Za-z0-9])")
_CAPITAL_I_IN_LOWER = re.compile(r"(?<=[a-z])I(?=[a-z])|(?<=[a-z])I\b")
_WORD = re.compile(r"(?<![\w:!])[A-Za-z][A-Za-z:_!]{3,}[A-Za-z](?![\w:!])")
PLACES = (
    "JOHOR", "KEDAH", "KELANTAN", "MELAKA", "NEGERI", "SEMBILAN", "PAHANG", "PENANG", "PERAK",
    "PERLIS", "SABAH", "SARAWAK", "SELANGOR", "TERENGGANU", "KUALA", "LUMPUR", "PUTRAJAYA",
    "LABUAN", "MALAYSIA", "DARUL", "EHSAN", "TAKZIM", "PINANG",
    # the commonest towns
    "PETALING", "KEMBANGAN", "PUCHONG", "SUBANG", "CHERAS", "KLANG", "KEPONG", "AMPANG",
    "SETAPAK", "BAHRU", "DAMANSARA", "CYBERJAYA", "SEREMBAN", "RAWANG", "KAJANG", "SEMENYIH",
    "BANGI", "GOMBAK", "SENTUL", "SEGAMBUT", "BALAKONG", "NILAI",
    # address words
    "JALAN", "TAMAN", "KAWASAN", "PERINDUSTRIAN", "INDUSTRIAL", "SEKSYEN", "BANDAR", "LORONG",
    "PERSIARAN", "LEBUHRAYA", "KAMPUNG", "MUKIM", "SUNGAI", "BUKIT", "PUSAT", "PERNIAGAAN",
    "PERDAGANGAN", "WISMA", "BANGUNAN", "PLAZA", "GROUND", "FLOOR", "LEVEL",
    "UTAMA", "INDAH", "PERDANA", "CENTRE", "SQUARE", "BOULEVARD", "SECTION", "BLOCK",
)  # fmt: skip


def fix_confusions(text: str) -> str:
    """Digits inside words and letters inside numbers, each by its neighbours."""
    text = _LETTER_DIGIT.sub(lambda m: _AS_LETTER[m.group()], text)
    return _DIGIT_LETTER.sub(lambda m: _AS_DIGIT[m.group()], text)


def fix_company(text: str) -> str:
    text = _space_company(text)
    text = _SDN_BEFORE_BHD.sub(lambda m: _cased("SDN", m.group(1)) + m.group(2), text)
    text = _BHD.sub(lambda m: _cased("BHD", m.group(1)) + m.group(2), text)
    return _SB_END.sub("S/B", fix_confusions(text))


def _space_company(text: str) -> str:
    text = _SDN_BHD_JOINED.sub(r"\1 ", text)
    text = _BRACKET_CLOSE.sub(") ", _BRACKET_OPEN.sub(" (", text))
    text = _CAPITAL_I_IN_LOWER.sub("l", text)
    return _MID_DOT.sub(" ", text)


def fix_address(text: str) -> str:
    text = _WORD.sub(lambda m: _place(m.group()), fix_confusions(text))
    return _STOP_FOR_COMMA.sub(",", text)


def _cased(word: str, like: str) -> str:
    return word if like.isupper() else word.capitalize()


def _place(word: str) -> str:
    upper = word.upper()
    if len(word) < 7 and upper.isalpha():
        return word  # short real words sit one edit from these too ("ROUND", "KEDAI", "BLACK")
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
