"""CTC charset + decoders on hand-made probability tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.codec import Charset, CharsetError, Decoder, beam_decode, greedy_decode
from models.codec.ctc import align_confidences, greedy_decode_batch, softmax
from models.codec.topk import TopK

LATIN = Charset(["a", "b", "c"], use_space=True)  # 0 blank, 1 a, 2 b, 3 c, 4 " "
CJK = Charset(["中", "文", "字"], use_space=False)


def path(steps: str, charset: Charset = LATIN, peak: float = 0.9) -> np.ndarray:
    """(T, C) probabilities whose best path is ``steps``: '-' is the blank, '_' the space."""
    c = len(charset)
    probs = np.full((len(steps), c), (1.0 - peak) / (c - 1), dtype=np.float32)
    for t, ch in enumerate(steps):
        idx = 0 if ch == "-" else charset.encode(" " if ch == "_" else ch)[0]
        probs[t, idx] = peak
    return probs


DECODE_CASES = [
    # (best path, charset, expected text)
    ("aab", LATIN, "ab"),  # repeats collapse
    ("a-a", LATIN, "aa"),  # a blank separates a repeated character
    ("aa--aa", LATIN, "aa"),
    ("a-b-c", LATIN, "abc"),
    ("----", LATIN, ""),  # all blank
    ("", LATIN, ""),  # no time steps at all
    ("a_b", LATIN, "a b"),  # the trailing space class
    ("-__-", LATIN, " "),
    ("中-中文文-字", CJK, "中中文字"),
]


@pytest.mark.parametrize("steps,charset,expected", DECODE_CASES)
@pytest.mark.parametrize("decoder", [Decoder("greedy"), Decoder("beam", 1), Decoder("beam", 5)])
def test_decode_table(steps: str, charset: Charset, expected: str, decoder: Decoder) -> None:
    text, score = decoder.decode(path(steps, charset), charset)
    assert text == expected
    assert score == pytest.approx(0.9 if expected else 0.0, abs=1e-6)


def test_greedy_score_is_mean_of_per_character_peaks() -> None:
    probs = np.array(
        [
            [0.2, 0.7, 0.1, 0.0, 0.0],  # a (first step of its run)
            [0.1, 0.8, 0.1, 0.0, 0.0],  # a (its peak)
            [0.9, 0.1, 0.0, 0.0, 0.0],  # blank: not a character
            [0.4, 0.0, 0.6, 0.0, 0.0],  # b
        ],
        dtype=np.float32,
    )
    text, score = greedy_decode(probs, LATIN)
    assert text == "ab"
    assert score == pytest.approx((0.8 + 0.6) / 2)


def test_beam_finds_the_labelling_that_the_best_path_misses() -> None:
    # Two steps, P(blank)=0.6, P(a)=0.4 each: best path "--" -> "" (0.36), but
    # P("a") = P(aa) + P(a-) + P(-a) = 0.16 + 0.24 + 0.24 = 0.64.
    probs = np.array([[0.6, 0.4, 0, 0, 0], [0.6, 0.4, 0, 0, 0]], dtype=np.float32)
    assert greedy_decode(probs, LATIN) == ("", 0.0)
    text, score = beam_decode(probs, LATIN, beam_width=5)
    assert text == "a"
    assert score == pytest.approx(0.4)  # Viterbi alignment "a-" or "-a": peak 0.4


def test_beam_sums_alignments_of_repeats() -> None:
    # best path a-a ("aa", 0.216) but P("a") = 0.6*0.6*0.4 + ... = 0.384 > P("aa") = 0.216
    probs = np.array([[0.4, 0.6, 0, 0, 0], [0.6, 0.4, 0, 0, 0], [0.4, 0.6, 0, 0, 0]], np.float32)
    assert greedy_decode(probs, LATIN)[0] == "aa"
    assert beam_decode(probs, LATIN, beam_width=5)[0] == "a"
    # width 1 ranks prefixes by summed probability, so it is not best-path decoding here
    assert beam_decode(probs, LATIN, beam_width=1)[0] == "a"


def test_beam_top_k_pruning_keeps_result_on_large_alphabet() -> None:
    big = Charset([chr(0x4E00 + i) for i in range(18000)], use_space=True)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, len(big))).astype(np.float32)
    best = rng.integers(0, len(big), size=40)
    logits[np.arange(40), best] += 14.0
    probs = softmax(logits)
    assert beam_decode(probs, big, beam_width=5) == pytest.approx(greedy_decode(probs, big))


def test_batch_decoding_respects_valid_lengths() -> None:
    a = path("a-b--", LATIN)
    b = path("cc-ab", LATIN)
    batch = np.stack([a, b])
    assert [t for t, _ in greedy_decode_batch(batch, LATIN, lengths=[5, 3])] == ["ab", "c"]
    for decoder in (Decoder("greedy"), Decoder("beam", 4)):
        out = decoder.decode_batch(batch, LATIN, lengths=[2, 5])
        assert [t for t, _ in out] == ["a", "cab"]


def test_align_confidences_of_greedy_labels_match_greedy_score() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        probs = softmax(rng.normal(scale=3.0, size=(int(rng.integers(1, 30)), len(LATIN))))
        text, score = greedy_decode(probs, LATIN)
        confs = align_confidences(probs, LATIN.encode(text))
        assert (float(np.mean(confs)) if confs else 0.0) == pytest.approx(score, abs=1e-6)


def test_unalignable_labels_have_no_confidence() -> None:
    assert align_confidences(path("a", LATIN), LATIN.encode("aa")) == []


CHARSET_TEXT_CASES = [
    ("a\nb\nc\n", ["a", "b", "c"]),  # final newline is not an empty symbol
    ("a\r\nb\r\n", ["a", "b"]),  # Windows line ends
    ("a\n \nb", ["a", " ", "b"]),  # a space line is a symbol
    ("中\n文", ["中", "文"]),
]


@pytest.mark.parametrize("text,symbols", CHARSET_TEXT_CASES)
def test_charset_from_text(text: str, symbols: list[str]) -> None:
    cs = Charset.from_text(text, use_space=True)
    assert list(cs.symbols) == symbols
    assert len(cs) == len(symbols) + 2
    assert cs.symbol(0) == "" and cs.symbol(len(cs) - 1) == " "


def test_charset_layout_and_roundtrip() -> None:
    assert len(LATIN) == 5 and len(CJK) == 4
    assert LATIN.encode("ab c") == [1, 2, 4, 3]
    assert LATIN.decode_indices([1, 0, 2, 4, 3]) == "ab c"
    assert CJK.decode_indices(CJK.encode("文中字")) == "文中字"


def test_charset_from_file_and_metadata(tmp_path: Path) -> None:
    f = tmp_path / "dict.txt"
    f.write_text("x\ny\n", encoding="utf-8")
    assert Charset.from_file(f, use_space=False).symbols == ("x", "y")
    assert len(Charset.from_metadata({"character": "x\ny"})) == 4
    with pytest.raises(CharsetError, match="no dictionary"):
        Charset.from_metadata({"other": "x"})
    with pytest.raises(CharsetError, match="cannot read"):
        Charset.from_file(tmp_path / "missing.txt")


def test_charset_mismatch_is_a_clear_error() -> None:
    with pytest.raises(CharsetError, match=r"model outputs 6 classes but the charset has 5"):
        greedy_decode(np.full((3, 6), 1 / 6, np.float32), LATIN)
    with pytest.raises(CharsetError, match="6 classes"):
        Decoder("beam").decode_batch(np.full((1, 3, 6), 1 / 6, np.float32), LATIN)
    with pytest.raises(CharsetError, match="not in the charset"):
        LATIN.encode("z")
    with pytest.raises(CharsetError):
        Charset([])


def test_decoder_validates_its_fields() -> None:
    with pytest.raises(ValueError):
        Decoder("viterbi")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Decoder("beam", 0)


@st.composite
def peaked(draw: st.DrawFn) -> np.ndarray:
    """Each step puts >= 0.98 on one class: the best path carries > half the mass (T <= 25)."""
    t = draw(st.integers(0, 25))
    best = draw(st.lists(st.integers(0, len(LATIN) - 1), min_size=t, max_size=t))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rest = rng.dirichlet(np.ones(len(LATIN) - 1), size=t) * rng.uniform(0, 0.02, size=(t, 1))
    probs = np.zeros((t, len(LATIN)), np.float32)
    for i, b in enumerate(best):
        probs[i, b] = 1.0 - rest[i].sum()
        probs[i, [c for c in range(len(LATIN)) if c != b]] = rest[i]
    return probs


@settings(max_examples=150, deadline=None)
@given(probs=peaked(), width=st.integers(1, 6))
def test_beam_equals_greedy_on_peaked_distributions(probs: np.ndarray, width: int) -> None:
    g_text, g_score = greedy_decode(probs, LATIN)
    b_text, b_score = beam_decode(probs, LATIN, beam_width=width)
    assert b_text == g_text
    assert b_score == pytest.approx(g_score, abs=1e-6)


def test_topk_keeps_what_decoding_needs() -> None:
    rng = np.random.default_rng(3)
    big = Charset([chr(0x4E00 + i) for i in range(500)], use_space=True)
    logits = rng.normal(size=(30, len(big))).astype(np.float32)
    logits[::2, 0] += 8.0  # blank on even steps
    logits[1::2, rng.integers(1, len(big), 15)] += 8.0
    probs = softmax(logits)
    top = TopK.from_probs(probs, k=8)
    assert top.indices.shape == (30, 8) and len(top) == 30
    assert np.array_equal(top.best(), probs.argmax(axis=1))
    assert np.all(np.diff(top.values, axis=1) <= 0)  # most probable first
    assert np.allclose(top.blank()[::2], probs[::2, 0])
    table, ids = top.dense()
    assert ids[0] == 0 and table.shape == (30, ids.size)
    assert np.allclose(table.sum(axis=1) + (len(big) - ids.size) * top._rest(), 1.0, atol=1e-4)
    sub = big.subset(ids.tolist())
    assert greedy_decode(table, sub) == pytest.approx(greedy_decode(probs, big))
    assert beam_decode(table, sub)[0] == beam_decode(probs, big)[0]


def test_topk_blank_outside_the_top_k_gets_a_share_of_the_rest() -> None:
    probs = np.array([[0.01, 0.5, 0.3, 0.19, 0.0]], np.float32)
    top = TopK.from_probs(probs, k=2)
    assert set(top.indices[0].tolist()) == {1, 2}
    assert top.blank()[0] == pytest.approx(0.2 / 3)
    assert TopK.concat([top, top[:1]]).indices.shape == (2, 2)


def test_charset_subset_maps_local_classes_to_symbols() -> None:
    sub = LATIN.subset([0, 2, 4])
    assert len(sub) == 3 and sub.decode_indices([1, 2, 1]) == "b b"
    with pytest.raises(CharsetError, match="blank"):
        LATIN.subset([1, 2])
