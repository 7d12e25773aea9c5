"""One training configuration: defaults written here once, a YAML file over them, command-line
``key=value`` overrides over that; its sha256 is recorded with the run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

Kind = Literal["finetune", "crnn"]


class ConfigError(ValueError):
    """A configuration key or value that cannot be used."""


@dataclass(frozen=True)
class TrainConfig:
    kind: Kind = "crnn"
    out_dir: str = "runs/rec"
    # data: dataset names (under OCR_DATASETS_DIR), folders with labels.jsonl (crop or page
    # sets, NAME:SPLIT picks a split) or LMDB folders written by `ocr train make-lmdb`/`synth`
    train: tuple[str, ...] = ()
    general: tuple[str, ...] = ()  # mixed in against forgetting, `general_ratio` per domain line
    general_ratio: float = 1.0
    val: tuple[str, ...] = ()
    val_limit: int = 500
    augment: bool = True
    turn_tall: bool = False  # finetune: standing crops train in the view the base reads best
    # model
    base_set: str = "ppocr-v6-small"  # finetune: the catalogue set whose recogniser is trained
    height: int = 32  # crnn input height (finetune: the base set's)
    max_width: int = 960  # longer lines are squeezed to this width
    variant: Literal["slim", "full", "lite", "tiny"] = "slim"
    hidden: int = 256  # crnn BiLSTM width (per direction)
    charset_extra: str = ""  # crnn: symbols added to those of the training labels
    # optimisation
    seed: int = 0
    batch_size: int = 32
    epochs: int = 10
    steps_per_epoch: int = 0  # 0: one pass over the domain data (+ its general share)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    clip_norm: float = 5.0
    ema_decay: float = 0.0  # 0: off; else validate and keep a moving average of the weights
    patience: int = 3  # epochs without a better validation edit distance before stopping
    max_steps: int = 0  # 0: none; else stop after this many optimiser steps overall
    time_limit_min: float = 0.0  # 0: none; else stop (keeping the best model) after this long
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision when on CUDA
    threads: int = 0  # CPU threads for torch; 0: torch's default
    workers: int = 0  # data-loader processes
    checkpoint_every: int = 200  # steps
    beam_width: int = 0  # validation decoding: 0 greedy, else CTC beam search of that width
    # export
    name: str = ""  # catalogue name of the exported set ("" = no registration)
    parity_tolerance: float = 1e-3  # max |prob| difference torch vs ONNX Runtime
    extra: dict[str, Any] = field(default_factory=dict)  # free notes recorded with the run

    def digest(self) -> str:
        """sha256 of the configuration (canonical JSON): which recipe made a model."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULTS: dict[str, Any] = dataclasses.asdict(TrainConfig())


def _coerce(key: str, value: Any) -> Any:
    """A YAML or command-line value as the type of the field's default."""
    default = DEFAULTS[key]
    if isinstance(default, tuple):
        items = value.split(",") if isinstance(value, str) else list(value or ())
        return tuple(str(v).strip() for v in items if str(v).strip())
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if isinstance(default, int | float | str):
        return type(default)(value)
    return value


def make_config(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """``base`` with ``values`` applied; an unknown key is an error (typos must not pass)."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
    try:
        return dataclasses.replace(base, **{k: _coerce(k, v) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("lr=1e-4", "train=a,b")`` -> ``{"lr": "1e-4", "train": "a,b"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"override {pair!r} is not KEY=VALUE")
        out[key.strip().replace("-", "_")] = value
    return out


def load_config(path: Path | None, overrides: dict[str, Any], base: TrainConfig) -> TrainConfig:
    """``base`` < the YAML file < the overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys")
    return make_config(base, {**values, **overrides})
