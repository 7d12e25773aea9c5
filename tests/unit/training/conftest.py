"""Shared fixtures of the training tests: a small rendered line set (no dataset files)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's idle threads sleep (shared cores)

from pathlib import Path

import numpy as np
import pytest

from models.training.lmdb_store import LmdbLines, write_lmdb
from models.training.synth import LineRenderer, find_fonts, synth_items

N_LINES = 300


def digit_renderer() -> LineRenderer:
    """One plain font, 40 three-digit strings, no degradation: learnable in a minute."""
    fonts = tuple(p for p in find_fonts() if p.name == "DejaVuSans.ttf") or tuple(find_fonts()[:1])
    corpus = tuple(str(v) for v in np.random.default_rng(0).integers(100, 1000, 40))
    return LineRenderer(fonts, corpus, corpus_share=1.0, degrade=0.0)


@pytest.fixture(scope="session")
def digit_lines(tmp_path_factory: pytest.TempPathFactory) -> LmdbLines:
    path = tmp_path_factory.mktemp("digits") / "lines"
    write_lmdb(path, "synth-digits", synth_items(digit_renderer(), N_LINES, seed=0))
    return LmdbLines.open(Path(path))
