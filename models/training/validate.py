"""Validation through the serving recogniser: the model under training is wrapped as an engine
(``ModuleEngine``) and read by ``service.ocr.recognize.TextRecognizer`` — the same resize, width
buckets and per-bucket batches, turned readings of crops taller than wide, content-only time
steps and decoder (``models.codec``) as a served model — then scored with the eval text
metrics (``models.eval.text``), each line under its own set's protocol. A training figure is
therefore the figure ``ocr eval`` gives the exported model on the same crops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.codec.charset import Charset
from models.codec.ctc import Decoder
from models.eval.protocol import Protocol
from models.eval.text import edit_distance
from models.training.batches import Lines
from service.engines.base import EngineBase, Tensor
from service.ocr.recognize import RecShape, TextRecognizer

CROPS_PER_CALL = 64  # crops read per recogniser call (bounds the rows held at once)


@dataclass
class Tally:
    """Running counts of one validation pass."""

    lines: int = 0
    exact: int = 0
    edits: int = 0
    chars: int = 0
    norm_ed: float = 0.0  # sum over lines of edits / max(len(pred), len(gt), 1)

    def add(self, pred: str, gt: str) -> None:
        edits = edit_distance(pred, gt)
        self.lines += 1
        self.exact += pred == gt
        self.edits += edits
        self.chars += len(gt)
        self.norm_ed += edits / max(len(pred), len(gt), 1)

    def metrics(self) -> dict[str, float]:
        n = max(self.lines, 1)
        return {
            "word_accuracy": self.exact / n,
            "norm_edit_distance": self.norm_ed / n,
            "cer": self.edits / max(self.chars, 1),
        }


class ModuleEngine(EngineBase):
    """A torch recogniser that outputs logits, run as a serving engine (probabilities out)."""

    name = "torch-training"

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model, self.device = model, device

    @torch.no_grad()
    def run(self, batch: Tensor) -> Tensor:
        logits = self.model(torch.from_numpy(batch).to(self.device))
        return np.asarray(logits.float().softmax(-1).cpu().numpy(), dtype=np.float32)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """The model in eval mode for a reading, back in the mode it was in afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def validate(
    model: nn.Module,
    lines: Lines,
    protocols: Sequence[Protocol],
    shape: RecShape,
    charset: Charset,
    decoder: Decoder,
    device: torch.device,
    max_batch: int = 32,
) -> dict[str, float]:
    """Word accuracy, normalised edit distance and CER over all validation lines."""
    reader = TextRecognizer(ModuleEngine(model, device), charset, shape, max_batch)
    tally = Tally()
    with evaluating(model):
        for start in range(0, len(lines), CROPS_PER_CALL):
            ks = range(start, min(len(lines), start + CROPS_PER_CALL))
            crops = [lines.pixels(k) for k in ks]
            for k, read in zip(ks, reader.recognize(crops, decoder), strict=True):
                proto = protocols[k]
                tally.add(proto.normalize(read.text), proto.normalize(lines.text(k)))
    return tally.metrics()
