"""Export a trained recogniser for serving: an ONNX file with dynamic batch and width whose
output is the softmax the serving decoder expects and whose metadata carries the dictionary;
a parity check of torch against ONNX Runtime that raises on mismatch; a local catalogue entry.

The fine-tuned recogniser is its source graph with new initializer values
(``OnnxRecogniser.write_back``); the CRNN is exported from torch.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from torch import nn

from models.codec.charset import METADATA_KEY, Charset
from models.registry.catalogue import (
    Catalogue,
    DictionarySpec,
    FileSpec,
    ModelSet,
    Source,
    save_local_set,
)
from models.registry.sources import sha256_file
from models.registry.store import ModelStore, ResolvedSet
from models.training.finetune import OnnxRecogniser

OPSET = 17


class ParityError(RuntimeError):
    """The exported ONNX model does not compute what the trained torch model computes."""


class _Probabilities(nn.Module):
    """logits -> softmax over classes: what PP-OCR recognisers output and serving decodes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).softmax(-1)


def dictionary_text(charset: Charset) -> str:
    """The symbols as PP-OCR embeds them: newline-separated, the space class implied."""
    return "\n".join(charset.symbols)


def export_torch(model: nn.Module, charset: Charset, height: int, path: Path) -> Path:
    """A torch recogniser (logits out) -> ONNX with softmax, dynamic batch and width."""
    model = model.cpu().eval()
    example = torch.zeros(1, 3, height, 64)
    torch.onnx.export(
        _Probabilities(model),
        (example,),
        str(path),
        input_names=["x"],
        output_names=["probs"],
        dynamic_axes={"x": {0: "batch", 3: "width"}, "probs": {0: "batch", 1: "steps"}},
        opset_version=OPSET,
        dynamo=False,
    )
    graph = onnx.load(str(path))
    graph.metadata_props.add(key=METADATA_KEY, value=dictionary_text(charset))
    onnx.save(graph, str(path))
    return path


def export_finetuned(model: OnnxRecogniser, path: Path) -> Path:
    """The served graph with the trained weights (its metadata, dictionary included, kept)."""
    onnx.save(model.write_back(), str(path))
    return path


def parity(
    model: nn.Module, path: Path, inputs: Sequence[npt.NDArray[np.float32]], tolerance: float
) -> float:
    """Largest |probability| difference of torch vs ONNX Runtime over ``inputs`` (each one
    (1, 3, H, W) batch, as serving builds them); raises ``ParityError`` above ``tolerance``."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    model = model.cpu().eval()
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            want = model(torch.from_numpy(x)).float().softmax(-1).numpy()
            got = session.run(None, {name: x})[0]
            if got.shape != want.shape:
                raise ParityError(f"ONNX output {got.shape} != torch {want.shape}")
            diff = np.abs(got - want)
            worst = max(worst, float(diff.max()) if np.isfinite(diff).all() else math.inf)
    if worst > tolerance:
        raise ParityError(f"ONNX Runtime and torch differ by {worst:.3g} > {tolerance:g}")
    return worst


def trained_set(
    base: ResolvedSet, name: str, rec: Path, height: int, recipe: str, training: dict[str, Any]
) -> ModelSet:
    """A catalogue entry: ``base``'s det and cls, the trained recogniser as rec."""
    spec = base.spec.models["rec"]
    inputs = spec.input.model_copy(update={"height": height})
    if height != (spec.input.height or height):
        inputs = inputs.model_copy(update={"buckets": None})
    files = (FileSpec(name=rec.name, sha256=sha256_file(rec)),)
    dictionary = DictionarySpec(embedded=METADATA_KEY, space=True)
    rec_model = spec.model_copy(update={"files": files, "input": inputs, "dictionary": dictionary})
    doc = base.spec.model_dump(mode="json", exclude={"name", "aliases", "admission", "training"})
    doc.update(
        version=f"trained-{dt.date.today().isoformat()}",
        description=f"{base.name} det/cls with a recogniser trained here ({training['kind']}).",
        licence=f"trained here: the training data's terms apply (base set: {base.spec.licence})",
        source=Source(kind="local", recipe=recipe).model_dump(mode="json", exclude_none=True),
        derived_from=base.name,
        models={**doc["models"], "rec": rec_model.model_dump(mode="json")},
        training={**training, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
    )
    return ModelSet.model_validate(doc).model_copy(update={"name": name})


def register(store: ModelStore, cat: Catalogue, base: ResolvedSet, ms: ModelSet, rec: Path) -> Path:
    """Copy the set's files into the store and add it to the local catalogue."""
    files = {
        f.name: p
        for t in ("det", "cls")
        for f, p in zip(base.tasks[t].spec.files, base.tasks[t].paths, strict=True)
    }
    files[rec.name] = rec
    where = store.install(ms.name, files)
    save_local_set(store.local_catalogue, ms, cat)
    return where
