"""`ocr` command group: serve, predict, eval, bench, models, keys, train, config.

Sub-commands are imported only when run (``LazyGroup``): ``ocr predict`` never imports uvicorn,
FastAPI or Redis."""

from __future__ import annotations

import json
import logging
import sys

import click

from service.cli.lazy import Lazy, LazyGroup

COMMANDS: Lazy = {
    "serve": ("service.cli.serve_cmd", "serve", None),
    "predict": ("service.cli.predict_cmd", "predict", None),
    "eval": ("service.cli.eval_cmd", "eval_", None),
    "bench": ("service.cli.bench_cmd", "bench", None),
    "models": ("service.cli.models_cmd", "models", None),
    "keys": ("service.cli.keys_cmd", "keys", None),
    "train": ("service.cli.train_cmd", "train", "train"),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """OCR Service: PP-OCR text detection, angle classification and recognition."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@cli.command()
def config() -> None:
    """Print the effective settings (OCR_* environment variables)."""
    from service.settings import get_settings

    click.echo(json.dumps(get_settings().model_dump(mode="json"), indent=2))


def main() -> None:
    cli(prog_name="ocr")
