"""Standing crops train in the view that serving reads them in.

The serving recogniser also reads a crop taller than wide turned 90 and 270 degrees
(``service.ocr.recognize.views``) and keeps the surer reading. Trained as stored, such a crop
resizes to a few time steps that cannot hold its label (the CTC loss is infinite and zeroed):
it teaches nothing, and the turned reading it will get when served is never trained. Before a
fine-tune, ``turns`` reads every standing training crop upright and in both turned views with
the base recogniser and keeps the view whose reading is nearest its label (upright on a tie).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import nn

from models.codec.charset import Charset
from models.eval.text import edit_distance
from models.training.batches import Lines
from models.training.validate import CROPS_PER_CALL, ModuleEngine, evaluating
from service.ocr.recognize import VIEWS, RecShape, TextRecognizer, in_view

PER_CALL = CROPS_PER_CALL // len(VIEWS)  # standing crops read per recogniser call


def standing(lines: Lines, keep: Sequence[int], shape: RecShape) -> list[int]:
    """The lines serving would also read turned (``RecShape.stands``)."""
    return [k for k in keep if shape.stands(lines.aspect(k), 1.0)]


def turns(
    model: nn.Module,
    lines: Lines,
    keep: Sequence[int],
    shape: RecShape,
    charset: Charset,
    device: torch.device,
) -> dict[int, int]:
    """Line -> view (``TURNS`` key) for the standing lines of ``keep`` best read turned
    (``VIEWS`` lists upright first: it wins ties)."""
    upright_only = dataclasses.replace(shape, turn_ratio=math.inf)  # each view read as given
    reader = TextRecognizer(ModuleEngine(model, device), charset, upright_only)
    out: dict[int, int] = {}
    ks = standing(lines, keep, shape)
    with evaluating(model):
        for start in range(0, len(ks), PER_CALL):
            chunk = ks[start : start + PER_CALL]
            reads = reader.recognize([in_view(lines.pixels(k), v) for k in chunk for v in VIEWS])
            for j, k in enumerate(chunk):
                label = lines.text(k).casefold()
                texts = [r.text.casefold() for r in reads[j * len(VIEWS) : (j + 1) * len(VIEWS)]]
                best = min(range(len(VIEWS)), key=lambda v: edit_distance(texts[v], label))
                if VIEWS[best]:
                    out[k] = VIEWS[best]
    return out
