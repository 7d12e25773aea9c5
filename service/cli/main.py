"""`ocr` command group: serve, predict, eval, bench, models, config."""

from __future__ import annotations

import json
import logging
import sys

import click

from service.cli.models_cmd import models
from service.settings import get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    click.echo(json.dumps(get_settings().model_dump(mode="json"), indent=2))


def _register() -> None:
    from service.cli.bench_cmd import bench
    from service.cli.eval_cmd import eval_
    from service.cli.predict_cmd import predict
    from service.cli.serve_cmd import serve

    cli.add_command(models)
    cli.add_command(predict)
    cli.add_command(eval_)
    cli.add_command(bench)
    cli.add_command(serve)


_register()


def main() -> None:
    cli(prog_name="ocr")
