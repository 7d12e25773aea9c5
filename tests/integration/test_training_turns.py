"""Standing training crops train in the view serving reads them in: the real PP-OCRv6 small
recogniser (the fine-tune's starting point) picks, for a rendered word stood up either way,
the turn that lays it down again, and leaves the word as rendered alone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.codec.charset import Charset
from models.registry.store import ResolvedSet
from models.training.batches import Lines
from models.training.finetune import OnnxRecogniser
from models.training.lmdb_store import LmdbLines, write_lmdb
from models.training.orient import turns
from models.training.sources import encode_png
from models.training.synth import LineRenderer, find_fonts
from service.ocr.recognize import RecShape

WORD = "WAREHOUSE"


def test_standing_words_train_turned_back(v6_set: ResolvedSet, tmp_path: Path) -> None:
    rec = OnnxRecogniser.load(v6_set.tasks["rec"].path)
    fonts = tuple(p for p in find_fonts() if p.name == "DejaVuSans.ttf") or tuple(find_fonts()[:1])
    wide, _ = LineRenderer(fonts, (WORD,), corpus_share=1.0, degrade=0.0).sample(0, 0)
    crops = [
        wide,
        np.asarray(cv2.rotate(wide, cv2.ROTATE_90_CLOCKWISE), np.uint8),
        np.asarray(cv2.rotate(wide, cv2.ROTATE_90_COUNTERCLOCKWISE), np.uint8),
    ]
    write_lmdb(tmp_path / "lines", "standing", [(encode_png(c), WORD) for c in crops])
    charset = Charset.from_metadata(rec.graph.metadata, use_space=True)
    lines = Lines([LmdbLines.open(tmp_path / "lines")], charset, 48, 960)

    picked = turns(rec, lines, range(3), RecShape(), charset, torch.device("cpu"))

    assert picked == {1: 2, 2: 1}  # stood up clockwise: turned back anticlockwise (view 2)
    lines.turns = picked
    assert all((lines.pixels(k) == wide).all() for k in range(3))
    assert lines.aspect(1) == pytest.approx(lines.aspect(0), rel=1e-4)
    assert lines.aspect(2) == pytest.approx(lines.aspect(0), rel=1e-4)
    assert lines.aspect(0) > 1.0
