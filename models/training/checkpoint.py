"""Checkpoints that resume exactly: model, optimiser, scheduler, AMP scaler, every RNG, and the
position in the epoch plan (the plan itself is recomputed from the seed)."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass
class Progress:
    """Where the loop stands; saved with every checkpoint."""

    epoch: int = 0
    batch: int = 0  # batches of ``epoch`` already trained
    step: int = 0  # optimiser steps overall
    best: float = float("inf")  # best validation normalised edit distance
    best_epoch: int = -1
    bad_epochs: int = 0  # epochs since the best
    seconds: float = 0.0  # training wall time before this process
    history: list[dict[str, float]] = field(default_factory=list)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, parts: dict[str, Any], progress: Progress) -> None:
    """``parts``: name -> object with ``state_dict`` (model, optimizer, scheduler, scaler)."""
    doc = {name: obj.state_dict() for name, obj in parts.items()}
    doc["progress"] = asdict(progress)
    doc["rng"] = rng_state()
    tmp = path.with_suffix(".tmp")
    torch.save(doc, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, parts: dict[str, Any], device: torch.device) -> Progress:
    doc = torch.load(path, map_location=device, weights_only=False)
    for name, obj in parts.items():
        obj.load_state_dict(doc[name])
    set_rng_state(doc["rng"])
    return Progress(**doc["progress"])
