"""LMDB line sets: what is written is read back, byte for byte and text for text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.training.lmdb_store import LmdbLines, write_lmdb
from models.training.sources import encode_png


def _lines(n: int) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(3)
    return [
        (rng.integers(0, 256, (8 + i, 20 + 3 * i, 3), dtype=np.uint8), f"l{i} é") for i in range(n)
    ]


def test_round_trip_keeps_pixels_texts_and_aspects(tmp_path: Path) -> None:
    lines = _lines(5)
    n = write_lmdb(tmp_path / "set", "sroie_copy", ((encode_png(px), t) for px, t in lines))
    back = LmdbLines.open(tmp_path / "set")
    assert n == len(back) == 5
    for i, (px, text) in enumerate(lines):
        assert back.text(i) == text
        assert np.array_equal(back.pixels(i), px)
        assert back.aspect(i) == round(px.shape[1] / px.shape[0], 6)
    assert back.protocol.case_insensitive  # the name picks the scoring protocol


def test_rewriting_replaces_the_set_and_limit_reads_a_prefix(tmp_path: Path) -> None:
    lines = _lines(4)
    write_lmdb(tmp_path / "set", "a", ((encode_png(px), t) for px, t in lines))
    write_lmdb(tmp_path / "set", "b", ((encode_png(px), t) for px, t in lines[:2]))
    assert len(LmdbLines.open(tmp_path / "set")) == 2
    assert LmdbLines.open(tmp_path / "set", limit=1).texts == ("l0 é",)
