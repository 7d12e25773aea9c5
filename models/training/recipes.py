"""The two training commands end to end: data from the configuration, the model (the base
set's own recogniser, or a CRNN), the loop, then export, parity and registration.

The caller (``ocr train``) resolves the catalogue, the store and the base set; this module
takes them as values, so it needs no settings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from models.codec.charset import Charset
from models.registry.catalogue import Catalogue
from models.registry.sources import sha256_file
from models.registry.store import ModelStore, ResolvedSet
from models.training.batches import EpochPlan, Lines, encodable
from models.training.config import ConfigError, TrainConfig
from models.training.crnn import Crnn
from models.training.export import export_finetuned, export_torch, parity, register, trained_set
from models.training.finetune import OnnxRecogniser
from models.training.line_set import LineSource
from models.training.lmdb_store import is_lmdb
from models.training.loop import BEST, Data, Trainer, pick_device
from models.training.orient import turns
from models.training.sources import open_source
from service.ocr.recognize import DEFAULT_BUCKETS, RecShape, preprocess

log = logging.getLogger(__name__)
PARITY_LINES = 32


@dataclass(frozen=True)
class Context:
    """What the command resolved for the run."""

    datasets_dir: Path
    base: ResolvedSet  # det/cls of the new set; for a fine-tune, the recogniser trained
    catalogue: Catalogue
    store: ModelStore
    recipe: str  # the command line, recorded in the catalogue entry


def open_sources(specs: Sequence[str], ctx: Context, limit: int | None = None) -> list[LineSource]:
    return [open_source(spec, ctx.datasets_dir, limit) for spec in specs]


def data_digest(spec: str, ctx: Context) -> str:
    """sha256 of the file that holds a source's labels (labels.jsonl or the LMDB data)."""
    where = spec.partition(":")[0] if not Path(spec).exists() else spec
    path = Path(where) if Path(where).exists() else ctx.datasets_dir / where
    return sha256_file(path / ("data.mdb" if is_lmdb(path) else "labels.jsonl"))


def charset_of(sources: Sequence[LineSource], extra: str) -> Charset:
    """Every character of the training labels (and ``extra``), sorted; the space is its own
    class at the end (``use_space``), as in PP-OCR dictionaries."""
    chars = {ch for src in sources for i in range(len(src)) for ch in src.text(i)} | set(extra)
    return Charset(sorted(chars - {" ", "\n"}), use_space=True)


def make_data(
    cfg: TrainConfig, charset: Charset, shape: RecShape, ctx: Context
) -> tuple[Data, dict[str, Any]]:
    """Training lines (domain + general), the epoch plan, validation lines; plus what was left
    out because the dictionary lacks its characters."""
    domain, general = open_sources(cfg.train, ctx), open_sources(cfg.general, ctx)
    seed = cfg.seed if cfg.augment else None
    lines = Lines([*domain, *general], charset, shape.height, cfg.max_width, augment_seed=seed)
    n_domain = sum(len(s) for s in domain)
    dom_keep, dom_missing = encodable(lines, 0, n_domain)
    held = held_out(cfg, [len(s) for s in domain])
    dom_keep = [k for k in dom_keep if k not in held]
    gen_keep, gen_missing = encodable(lines, n_domain, len(lines))
    plan = EpochPlan(
        tuple(dom_keep),
        tuple(gen_keep),
        cfg.general_ratio,
        cfg.batch_size,
        cfg.steps_per_epoch,
        cfg.seed,
    )
    val = Lines(open_sources(cfg.val, ctx, cfg.val_limit), charset, shape.height, cfg.max_width)
    protocols = [val.sources[s].protocol for s, _ in val.index]
    left_out = {
        "domain": n_domain - len(held) - len(dom_keep),
        "general": len(lines) - n_domain - len(gen_keep),
        "characters": dict(
            sorted({**gen_missing, **dom_missing}.items(), key=lambda kv: -kv[1])[:50]
        ),
    }
    if left_out["domain"] or left_out["general"]:
        log.warning("lines left out, characters not in the dictionary: %s", left_out)
    return Data(lines, plan, val, protocols, shape), left_out


def held_out(cfg: TrainConfig, sizes: Sequence[int]) -> set[int]:
    """A validation source that is also a training source is split: its first ``val_limit``
    lines validate and are not trained on."""
    held: set[int] = set()
    start = 0
    for spec, size in zip(cfg.train, sizes, strict=True):
        if spec in cfg.val:
            held |= set(range(start, start + min(size, cfg.val_limit)))
        start += size
    return held


def parity_inputs(lines: Lines, shape: RecShape) -> list[npt.NDArray[np.float32]]:
    """Crops (validation ones, or training ones in a run without validation) as the serving
    recogniser feeds them (resized, bucket-padded rows)."""
    picks = range(0, len(lines), max(1, len(lines) // PARITY_LINES))
    crops = [lines.pixels(k) for k in picks]
    return [row.tensor[np.newaxis] for row in preprocess(crops, shape)[:PARITY_LINES]]


def _train(
    model: nn.Module,
    cfg: TrainConfig,
    charset: Charset,
    shape: RecShape,
    ctx: Context,
    resume: Path | None,
) -> tuple[Trainer, dict[str, Any]]:
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, left_out = make_data(cfg, charset, shape, ctx)
    if cfg.turn_tall:  # read by the base recogniser before any step: the fine-tune's start
        device = pick_device(cfg.device)
        model.to(device)  # where the Trainer puts it too: the reads run where the model is
        data.train.turns = turns(model, data.train, data.plan.domain, shape, charset, device)
        log.info("%d standing training crops train turned", len(data.train.turns))
    trainer = Trainer(model, data, charset, cfg, out)
    if resume is not None:
        trainer.resume(resume)
    progress = trainer.run()
    if (out / BEST).is_file():
        model.load_state_dict(torch.load(out / BEST, map_location=trainer.device))
    record = {
        "kind": cfg.kind,
        "base_set": ctx.base.name,
        "config_sha256": cfg.digest(),
        "data_sha256": {
            spec: data_digest(spec, ctx) for spec in (*cfg.train, *cfg.general, *cfg.val)
        },
        "left_out": left_out,
        "turned": len(data.train.turns),
        "progress": {k: v for k, v in asdict(progress).items() if k != "history"},
        "best_metrics": next(
            (h for h in progress.history if h["epoch"] == progress.best_epoch), {}
        ),
    }
    return trainer, record


def _finish(
    model: nn.Module,
    trainer: Trainer,
    record: dict[str, Any],
    rec: Path,
    shape: RecShape,
    ctx: Context,
) -> dict[str, Any]:
    cfg = trainer.cfg
    checked = trainer.data.val if len(trainer.data.val) else trainer.data.train
    record["parity_max_abs"] = parity(
        model, rec, parity_inputs(checked, shape), cfg.parity_tolerance
    )
    record["rec_sha256"] = sha256_file(rec)
    record["config"] = cfg.to_dict()
    if cfg.name:
        ms = trained_set(
            ctx.base,
            cfg.name,
            rec,
            shape.height,
            ctx.recipe,
            {k: v for k, v in record.items() if k != "config"},
        )
        record["registered"] = str(register(ctx.store, ctx.catalogue, ctx.base, ms, rec))
    (Path(cfg.out_dir) / "run.json").write_text(json.dumps(record, indent=2, default=str))
    return record


def finetune(cfg: TrainConfig, ctx: Context, resume: Path | None = None) -> dict[str, Any]:
    """Train the base set's recogniser on the configured lines; export into its own graph."""
    rec_task = ctx.base.tasks["rec"]
    model = OnnxRecogniser.load(rec_task.path)
    space = rec_task.spec.dictionary.space if rec_task.spec.dictionary else True
    charset = Charset.from_metadata(model.graph.metadata, use_space=space)
    contract = rec_task.spec.input
    shape = RecShape(height=contract.height or 48, buckets=contract.buckets or DEFAULT_BUCKETS)
    trainer, record = _train(model, cfg, charset, shape, ctx, resume)
    rec = export_finetuned(model, Path(cfg.out_dir) / f"{cfg.name or 'rec'}.onnx")
    return _finish(model, trainer, record, rec, shape, ctx)


def crnn(cfg: TrainConfig, ctx: Context, resume: Path | None = None) -> dict[str, Any]:
    """Train a CRNN from scratch (charset from the training labels); export it to ONNX."""
    if cfg.turn_tall:
        raise ConfigError("turn_tall needs a base recogniser to read the crops: finetune only")
    charset = charset_of(open_sources([*cfg.train, *cfg.general], ctx), cfg.charset_extra)
    model = Crnn(len(charset), cfg.height, cfg.variant, cfg.hidden)
    shape = RecShape(height=cfg.height)  # served with the default width buckets
    trainer, record = _train(model, cfg, charset, shape, ctx, resume)
    rec = export_torch(model, charset, cfg.height, Path(cfg.out_dir) / f"{cfg.name or 'crnn'}.onnx")
    record["onnx_bytes"] = rec.stat().st_size
    return _finish(model, trainer, record, rec, shape, ctx)
