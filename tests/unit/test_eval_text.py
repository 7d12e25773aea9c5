"""Edit distance, CER and per-protocol normalisation (models/eval/text.py, protocol.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.eval.protocol import Protocol, protocol_for
from models.eval.text import cer, corpus_cer, edit_distance, normalize


def reference_distance(a: str, b: str) -> int:
    """Textbook O(n*m) Levenshtein DP."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("abc", "abc", 0),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("abc", "cba", 2),
        ("TOTAL", "T0TAL", 1),
        ("RM 12.50", "RM12.50", 1),
        ("café", "cafe", 1),
        ("漢字", "漢子", 1),
        ("皖A8Y796", "A8Y796", 1),
        ("🙂a", "a🙂", 2),
        ("a" * 200, "a" * 199 + "b", 1),
        ("ab" * 100, "ba" * 100, 2),
    ],
)
def test_edit_distance_table(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


@given(st.text(alphabet="abcé漢 ", max_size=30), st.text(alphabet="abcé漢 ", max_size=30))
def test_edit_distance_matches_reference(a: str, b: str) -> None:
    assert edit_distance(a, b) == reference_distance(a, b)


@given(st.text(max_size=80), st.text(max_size=80))
def test_edit_distance_any_unicode(a: str, b: str) -> None:
    assert edit_distance(a, b) == reference_distance(a, b)


def test_long_strings_cross_the_machine_word() -> None:
    a = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG " * 5
    b = a.replace("O", "0").replace(" ", "", 3)
    assert edit_distance(a, b) == reference_distance(a, b)


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ("HELLO", "HELLO", 0.0),
        ("HELO", "HELLO", 0.2),
        ("", "AB", 1.0),
        ("", "", 0.0),
        ("x", "", 1.0),
    ],
)
def test_cer(pred: str, gt: str, expected: float) -> None:
    assert cer(pred, gt) == pytest.approx(expected)


def test_corpus_cer_is_micro_averaged() -> None:
    rate, edits, chars = corpus_cer([("HELO", "HELLO"), ("A", "A"), ("", "BCDE")])
    assert (edits, chars) == (5, 10)
    assert rate == pytest.approx(0.5)
    assert corpus_cer([]) == (0.0, 0, 0)


@pytest.mark.parametrize(
    ("dataset", "text", "expected"),
    [
        ("sroie_train_dev", "Total  Amount ", "total amount"),
        ("sroie_train_line_crops", "TOTAL:", "total:"),
        ("iiit5k_train", "Hello-World 1", "helloworld1"),
        ("iiit5k_train", "BORDER", "border"),
        ("cn_license_plate_crops", "皖A8Y796", "皖A8Y796"),
        ("cn_license_plate_crops", "皖a8y796", "皖a8y796"),
        ("funsd_train", "  Date:\tMarch 3 ", "Date: March 3"),
        ("msra_td500_train", None, ""),
        ("unknown_set", "Mixed Case", "Mixed Case"),
    ],
)
def test_normalisation_per_protocol(dataset: str, text: str | None, expected: str) -> None:
    assert protocol_for(dataset).normalize(text) == expected


def test_unicode_is_nfc_normalised() -> None:
    assert normalize("cafe\u0301") == normalize("café") == "café"


def test_protocol_flags_by_name() -> None:
    assert protocol_for("sroie_train_dev").case_insensitive
    assert "***" in protocol_for("sroie_train_dev").ignore_texts
    iiit = protocol_for("IIIT5K_test")
    assert iiit.case_insensitive and iiit.alnum_only
    assert not protocol_for("msra_td500_train").has_text
    assert protocol_for("funsd_train") == Protocol()
    assert protocol_for("cn_license_plate_crops").strip_chars  # the separator dot


def test_plate_protocol_ignores_the_separator_dot() -> None:
    plate = protocol_for("cn_license_plate_crops")
    assert plate.normalize("京P·L3N67") == plate.normalize("京PL3N67")
    assert plate.normalize("京PL3N68") != plate.normalize("京PL3N67")
