"""Validation with the serving decoders (``models.codec``) and the eval text metrics
(``models.eval.text``): each line is compared under its own set's scoring protocol."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.codec.charset import Charset
from models.codec.ctc import Decoder
from models.eval.protocol import Protocol
from models.eval.text import edit_distance
from models.training.batches import Batch


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


def read_batch(
    model: nn.Module, images: torch.Tensor, charset: Charset, decoder: Decoder
) -> list[str]:
    """Model logits -> probabilities -> the serving decoder's texts."""
    logits = model(images)
    probs = logits.float().softmax(-1).cpu().numpy().astype(np.float32)
    return [text for text, _ in decoder.decode_batch(probs, charset)]


@torch.no_grad()
def validate(
    model: nn.Module,
    batches: Iterable[tuple[Batch, Sequence[Protocol]]],
    charset: Charset,
    decoder: Decoder,
    device: torch.device,
) -> dict[str, float]:
    """Word accuracy, normalised edit distance and CER over all validation lines."""
    was_training = model.training
    model.eval()
    tally = Tally()
    for batch, protocols in batches:
        preds = read_batch(model, batch.images.to(device), charset, decoder)
        for pred, gt, proto in zip(preds, batch.texts, protocols, strict=True):
            tally.add(proto.normalize(pred), proto.normalize(gt))
    model.train(was_training)
    return tally.metrics()
