"""The one training loop, for the fine-tuned served recogniser and the CRNN alike.

CTC loss (blank 0, ``zero_infinity``) on the model's logits, AdamW, linear warm-up then cosine
decay, gradient-norm clipping, mixed precision on CUDA, optionally a moving average of the
weights (``ema_decay``) that is validated and kept instead; validation every epoch with the
serving decoder, early stopping on the normalised edit distance, the best weights kept, checkpoints
that resume exactly, a progress bar, a JSONL metrics log and a plot at the end.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.codec.charset import Charset
from models.codec.ctc import Decoder
from models.eval.protocol import Protocol
from models.training.batches import Batch, Draw, EpochPlan, Lines, collate
from models.training.checkpoint import Progress, load_checkpoint, save_checkpoint
from models.training.config import TrainConfig
from models.training.ema import WeightAverage
from models.training.report import MetricsLog, plot
from models.training.validate import validate
from service.ocr.recognize import RecShape

log = logging.getLogger(__name__)
LAST, BEST = "last.pt", "best.pt"


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    """LR factor: linear from 0 to 1 over ``warmup`` steps, then a cosine down to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor


def ctc_loss(
    logits: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """Mean CTC loss over the batch; every line uses all of its row's time steps."""
    log_probs = logits.float().log_softmax(2).transpose(0, 1)  # (T, N, C)
    steps, rows = log_probs.shape[:2]
    lengths = torch.full((rows,), steps, dtype=torch.long)
    return nn.functional.ctc_loss(
        log_probs, targets, lengths, target_lengths, blank=0, zero_infinity=True
    )


@dataclass
class Data:
    train: Lines
    plan: EpochPlan
    val: Lines
    val_protocols: Sequence[Protocol]
    shape: RecShape  # the serving recogniser's geometry: collate pads to its buckets


class Trainer:
    """Owns the model, optimiser, schedule and run folder of one training run."""

    def __init__(
        self, model: nn.Module, data: Data, charset: Charset, cfg: TrainConfig, out: Path
    ) -> None:
        self.cfg, self.data, self.charset, self.out = cfg, data, charset, out
        self.device = pick_device(cfg.device)
        self.model = model.to(self.device)
        self.amp = cfg.amp and self.device.type == "cuda"
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.per_epoch = len(data.plan.batches(0, [0.0] * len(data.train)))
        total = self.per_epoch * cfg.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(cfg.warmup_steps, total)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.average = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay else None
        self.decoder = Decoder("beam", cfg.beam_width) if cfg.beam_width else Decoder()
        self.progress = Progress()
        self.metrics = MetricsLog(out / "metrics.jsonl")
        self.aspects = [data.train.aspect(k) for k in range(len(data.train))]

    def parts(self) -> dict[str, object]:
        parts: dict[str, object] = {
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "scaler": self.scaler,
        }
        if self.average is not None:
            parts["average"] = self.average
        return parts

    @property
    def kept(self) -> nn.Module:
        """The weights validated and saved as the best: the moving average when there is one."""
        return self.average.module if self.average is not None else self.model

    def resume(self, path: Path) -> None:
        self.progress = load_checkpoint(path, self.parts(), self.device)
        log.info(
            "resumed at epoch %d batch %d (step %d)",
            self.progress.epoch,
            self.progress.batch,
            self.progress.step,
        )

    def step(self, batch: Batch) -> float:
        """One optimiser step; returns the batch loss."""
        self.model.train()
        with torch.autocast(self.device.type, enabled=self.amp):
            logits = self.model(batch.images.to(self.device, non_blocking=True))
        loss = ctc_loss(logits, batch.targets.to(self.device), batch.target_lengths.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        return float(loss.detach())

    def loader(self, batches: Sequence[Sequence[Draw]], lines: Lines) -> Iterable[Batch]:
        """Batches in the planned order (``collate`` makes each one; workers only load)."""
        sampler = [list(b) for b in batches]
        pad = partial(collate, buckets=self.data.shape.buckets)
        loader = DataLoader(
            lines, batch_sampler=sampler, collate_fn=pad, num_workers=self.cfg.workers
        )
        return cast(Iterable[Batch], loader)

    def run(self) -> Progress:
        """Train until the epochs, ``max_steps``, the time limit or the patience run out."""
        started = time.monotonic() - self.progress.seconds
        p = self.progress
        while p.epoch < self.cfg.epochs and not self._stopped(p, started):
            self._epoch(p, started)
            if p.batch < self.per_epoch:  # interrupted inside the epoch
                break
            self._end_epoch(p, started)
        self._save(LAST, p, started)
        plot(self.metrics, self.out / "metrics.png")
        return p

    def _stopped(self, p: Progress, started: float) -> bool:
        over_time = (
            self.cfg.time_limit_min and time.monotonic() - started > 60 * self.cfg.time_limit_min
        )
        over_steps = self.cfg.max_steps and p.step >= self.cfg.max_steps
        return bool(over_time or over_steps or p.bad_epochs >= self.cfg.patience)

    def _epoch(self, p: Progress, started: float) -> None:
        batches = self.data.plan.batches(p.epoch, self.aspects)[p.batch :]
        bar = tqdm(
            total=self.per_epoch,
            initial=p.batch,
            desc=f"epoch {p.epoch}",
            mininterval=5,
            unit="batch",
        )
        for batch in self.loader(batches, self.data.train):
            loss = self.step(batch)
            p.batch, p.step = p.batch + 1, p.step + 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            self.metrics.write(
                "train", step=p.step, epoch=p.epoch, loss=loss, lr=self.scheduler.get_last_lr()[0]
            )
            if p.step % self.cfg.checkpoint_every == 0:
                self._save(LAST, p, started)
            if self._stopped(p, started):
                break
        bar.close()
        if self.cfg.time_limit_min and p.batch < self.per_epoch and self._stopped(p, started):
            self._end_epoch(p, started)  # validate what the time allowed; keep it if best

    def _end_epoch(self, p: Progress, started: float) -> None:
        if len(self.data.val):
            self._validate(p, started)
        else:  # no validation lines (a refit on all the data): the weights kept are the last
            p.best_epoch = p.epoch
            torch.save(self.kept.state_dict(), self.out / BEST)
        if p.batch >= self.per_epoch:
            p.epoch, p.batch = p.epoch + 1, 0
        self._save(LAST, p, started)

    def _validate(self, p: Progress, started: float) -> None:
        data = self.data
        result = validate(
            self.kept,
            data.val,
            data.val_protocols,
            data.shape,
            self.charset,
            self.decoder,
            self.device,
            self.cfg.batch_size,
        )
        result = {**result, "epoch": float(p.epoch), "step": float(p.step)}
        p.history.append(result)
        self.metrics.write("val", **result, seconds=time.monotonic() - started)
        log.info("epoch %d: %s", p.epoch, result)
        if result["norm_edit_distance"] < p.best:
            p.best, p.best_epoch, p.bad_epochs = result["norm_edit_distance"], p.epoch, 0
            torch.save(self.kept.state_dict(), self.out / BEST)
        else:
            p.bad_epochs += 1

    def _save(self, name: str, p: Progress, started: float) -> None:
        p.seconds = time.monotonic() - started
        save_checkpoint(self.out / name, self.parts(), p)
