"""`ocr train ...`: make training data (synth, make-lmdb, cut-lines) and train recognisers
(finetune, crnn) that the service can then serve by name.

This module is loaded only when `ocr train` runs (the `train` extra: torch, lmdb); nothing
else under ``service/`` imports it or ``models.training``.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from models.eval.datasets import load_dataset
from models.registry.errors import RegistryError
from models.registry.store import ModelStore
from models.training.config import ConfigError, TrainConfig, load_config, parse_overrides
from models.training.lmdb_store import write_lmdb
from models.training.recipes import Context, crnn, finetune
from models.training.sources import encode_png, open_source, page_crops
from models.training.synth import LineRenderer, NoFontsError, find_fonts, synth_items
from service.cli.common import resolve_dataset
from service.cli.errors import SetupFailed
from service.runtime.loader import catalogue_from_settings
from service.settings import get_settings

DEFAULTS = {
    "finetune": TrainConfig(
        kind="finetune", lr=1e-4, batch_size=16, epochs=3, warmup_steps=50, out_dir="runs/finetune"
    ),
    "crnn": TrainConfig(kind="crnn"),
}


@click.group()
def train() -> None:
    """Training data and recogniser training (the `train` extra)."""


def _config(kind: str, path: Path | None, overrides: tuple[str, ...]) -> TrainConfig:
    try:
        return load_config(path, parse_overrides(overrides), DEFAULTS[kind])
    except (ConfigError, OSError) as exc:
        raise click.BadParameter(str(exc)) from exc


def _context(cfg: TrainConfig) -> Context:
    s = get_settings()
    store = ModelStore(s.model_dir)
    try:
        cat = catalogue_from_settings(s)
        base = store.resolve(cat.get(cfg.base_set))
    except RegistryError as exc:
        raise SetupFailed(str(exc)) from exc
    recipe = "ocr " + shlex.join(sys.argv[1:])
    return Context(s.datasets_dir, base, cat, store, recipe)


def _training_command(kind: str) -> click.Command:
    """`ocr train finetune|crnn [--config YAML] [-o KEY=VALUE ...] [--resume CKPT]`."""

    @click.command(kind, help=RUN_HELP[kind])
    @click.option(
        "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
    )
    @click.option(
        "-o",
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value.",
    )
    @click.option(
        "--resume",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A last.pt to continue.",
    )
    def run(config_path: Path | None, overrides: tuple[str, ...], resume: Path | None) -> None:
        cfg = _config(kind, config_path, overrides)
        if not cfg.train:
            raise click.UsageError("the config needs `train` sources")
        if not cfg.val:
            click.echo("no `val` sources: no early stopping, the last weights are kept", err=True)
        record = (finetune if kind == "finetune" else crnn)(cfg, _context(cfg), resume)
        click.echo(
            json.dumps({k: v for k, v in record.items() if k != "config"}, indent=2, default=str)
        )

    return run


RUN_HELP = {
    "finetune": "Fine-tune a catalogue set's recogniser (default PP-OCRv6 small) in its own graph.",
    "crnn": "Train a CRNN + CTC recogniser from scratch (charset from the training labels).",
}
for _kind in RUN_HELP:
    train.add_command(_training_command(_kind))


@train.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", type=int, default=10000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--corpus", multiple=True, help="Text lines from a file, or the labels of a dataset.")
@click.option("--corpus-share", type=float, default=0.7, show_default=True)
def synth(out: Path, count: int, seed: int, corpus: tuple[str, ...], corpus_share: float) -> None:
    """Render COUNT synthetic lines into an LMDB folder OUT (same seed, same set)."""
    try:
        fonts = tuple(find_fonts())
    except NoFontsError as exc:
        raise SetupFailed(str(exc)) from exc
    renderer = LineRenderer(fonts, tuple(_corpus(corpus)), corpus_share)
    n = write_lmdb(out, "synth", synth_items(renderer, count, seed))
    click.echo(f"{n} lines, {len(fonts)} fonts -> {out}", err=True)


def _corpus(specs: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    for spec in specs:
        if Path(spec).is_file():
            lines += [
                ln for ln in Path(spec).read_text(encoding="utf-8").splitlines() if ln.strip()
            ]
            continue
        src = open_source(spec, _datasets())
        lines += [src.text(i) for i in range(len(src))]
    return lines


def _datasets() -> Path:
    return get_settings().datasets_dir


@train.command("make-lmdb")
@click.argument("source")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--limit", type=int)
def make_lmdb(source: str, out: Path, limit: int | None) -> None:
    """Pack a crop set, a page set's lines or another LMDB into an LMDB folder OUT."""
    src = open_source(source, _datasets(), limit)
    items = ((encode_png(src.pixels(i)), src.text(i)) for i in range(len(src)))
    n = write_lmdb(out, src.name, items)
    click.echo(f"{n} lines -> {out}", err=True)


@train.command("cut-lines")
@click.argument("pages")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def cut_lines(pages: str, out: Path) -> None:
    """Cut a page set's ground-truth lines (serving's crop code) into a crop set OUT, which
    `ocr eval` scores like any crop set (name OUT after the source for its protocol)."""
    ds = load_dataset(resolve_dataset(pages))
    (out / "images").mkdir(parents=True, exist_ok=True)
    with (out / "labels.jsonl").open("w", encoding="utf-8") as f:
        for n, (crop, text) in enumerate(page_crops(ds)):
            name = f"images/line_{n:06d}.png"
            (out / name).write_bytes(encode_png(crop))
            f.write(json.dumps({"image": name, "text": text}, ensure_ascii=False) + "\n")
    click.echo(f"{n + 1} lines -> {out}", err=True)
