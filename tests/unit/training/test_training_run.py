"""A whole (tiny) training run on rendered digit lines: the loss falls, the exported ONNX model
reads its training strings through the serving recogniser, and resuming from a checkpoint
gives exactly the loss the uninterrupted run had at the next step."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.codec.charset import Charset
from models.training.batches import EpochPlan, Lines
from models.training.config import TrainConfig
from models.training.crnn import Crnn
from models.training.export import export_torch
from models.training.lmdb_store import LmdbLines
from models.training.loop import LAST, Data, Trainer
from models.training.recipes import charset_of
from models.training.validate import Tally, validate
from service.engines.onnxruntime import OnnxEngine
from service.ocr.recognize import RecShape, TextRecognizer

HEIGHT = 32
BASE = TrainConfig(
    variant="tiny", hidden=64, batch_size=16, lr=6e-3, warmup_steps=10, augment=False,
    patience=100, height=HEIGHT, threads=2,
)  # fmt: skip


def _trainer(src: LmdbLines, charset: Charset, out: Path, **cfg: object) -> Trainer:
    config = dataclasses.replace(BASE, **cfg)
    torch.manual_seed(config.seed)
    lines = Lines([src], charset, HEIGHT, config.max_width)
    val = Lines([src], charset, HEIGHT, config.max_width)
    val.index = val.index[:48]
    plan = EpochPlan(tuple(range(len(src))), (), 1.0, config.batch_size, 0, config.seed)
    data = Data(lines, plan, val, [src.protocol] * len(val), RecShape(height=HEIGHT))
    model = Crnn(len(charset), HEIGHT, config.variant, config.hidden)
    out.mkdir(parents=True, exist_ok=True)
    return Trainer(model, data, charset, config, out)


def _losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["event"] == "train"]


@pytest.fixture(scope="module")
def trained(
    digit_lines: LmdbLines, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Trainer, Path]:
    out = tmp_path_factory.mktemp("run")
    # a schedule planned for 60 epochs but cut at 450 steps: the learning rate stays high,
    # which takes a CTC model off its all-blank plateau within the two-minute budget
    trainer = _trainer(digit_lines, charset_of([digit_lines], ""), out, epochs=60, max_steps=450)
    trainer.run()
    return trainer, out


def test_the_loss_falls_and_the_run_leaves_its_log_and_plot(trained: tuple[Trainer, Path]) -> None:
    _, out = trained
    losses = _losses(out)
    assert len(losses) == 450
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[5:25])
    assert (out / "metrics.png").stat().st_size > 1000
    assert (out / LAST).is_file() and (out / "best.pt").is_file()


def test_the_exported_model_reads_its_training_strings(
    trained: tuple[Trainer, Path], digit_lines: LmdbLines
) -> None:
    trainer, out = trained
    path = export_torch(trainer.model, trainer.charset, HEIGHT, out / "tiny.onnx")
    engine = OnnxEngine(path)
    charset = Charset.from_metadata(dict(engine.metadata))
    recognizer = TextRecognizer(engine, charset, RecShape(height=HEIGHT))
    picks = range(0, len(digit_lines), 5)
    texts = recognizer.recognize([digit_lines.pixels(i) for i in picks])
    right = sum(r.text == digit_lines.text(i) for r, i in zip(texts, picks, strict=True))
    # An untrained model reads none. A 450-step run on two shared cores is far from converged
    # and CTC's escape from the all-blank plateau varies run to run (1-18 of 60 measured), so
    # the bar is "reads some of them", not "reads them all".
    assert right >= 1


def test_validation_scores_what_the_served_export_reads(trained: tuple[Trainer, Path]) -> None:
    """The training figure is the serving figure: the exported ONNX file, read by the serving
    recogniser on the validation crops, scores what validation scored the torch model."""
    trainer, out = trained
    data = trainer.data
    args = (data.val, data.val_protocols, data.shape, trainer.charset, trainer.decoder)
    during = validate(trainer.model, *args, trainer.device)
    path = export_torch(trainer.model, trainer.charset, HEIGHT, out / "served.onnx")
    reader = TextRecognizer(OnnxEngine(path), trainer.charset, data.shape)
    reads = reader.recognize([data.val.pixels(k) for k in range(len(data.val))])
    served = Tally()
    for k, read in enumerate(reads):
        proto = data.val_protocols[k]
        served.add(proto.normalize(read.text), proto.normalize(data.val.text(k)))
    assert during["cer"] < 1.0  # it emits characters (all-blank would match trivially)
    assert during == pytest.approx(served.metrics(), abs=1e-9)


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_reproduces_the_next_step_loss(
    digit_lines: LmdbLines, tmp_path: Path, ema_decay: float
) -> None:
    charset = charset_of([digit_lines], "")
    run = {"epochs": 2, "ema_decay": ema_decay}
    whole = _trainer(digit_lines, charset, tmp_path / "whole", max_steps=24, **run)
    whole.run()
    first = _trainer(digit_lines, charset, tmp_path / "cut", max_steps=21, **run)
    first.run()
    resumed = _trainer(digit_lines, charset, tmp_path / "cut", max_steps=24, **run)
    resumed.resume(tmp_path / "cut" / LAST)
    resumed.run()
    assert _losses(tmp_path / "cut")[21:] == _losses(tmp_path / "whole")[21:]
    kept, expected = resumed.kept.state_dict(), whole.kept.state_dict()
    assert all(torch.equal(kept[name], expected[name]) for name in expected)
    assert (resumed.average is None) == (ema_decay == 0.0)


def test_without_validation_lines_the_last_weights_are_kept(
    digit_lines: LmdbLines, tmp_path: Path
) -> None:
    trainer = _trainer(digit_lines, charset_of([digit_lines], ""), tmp_path, epochs=1)
    trainer.data.val.index = []  # a refit on all the data: nothing held out to validate on
    progress = trainer.run()
    kept = torch.load(tmp_path / "best.pt")
    last = trainer.model.state_dict()
    assert progress.step == trainer.per_epoch and progress.history == []
    assert progress.best_epoch == 0
    assert all(torch.equal(kept[name], last[name]) for name in last)
