"""`ocr predict IMAGE...`: OCR local image files, print text or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from service.cli.common import open_pipeline, settings_with
from service.cli.errors import CommandFailed
from service.fields.document import result_document
from service.ocr.decode import decode_image
from service.ocr.errors import OcrError
from service.ocr.export import result_text


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "-m", help="Model set name or alias (default: OCR_MODEL_SET).")
@click.option(
    "--json", "as_json", is_flag=True, help="JSON lines: POST /v1/ocr's body + file, per image."
)
@click.option("--text", "as_text", is_flag=True, help="Plain text only (the default).")
@click.option("--decoder", type=click.Choice(["greedy", "beam"]), help="CTC decoding.")
@click.option("--beam-width", type=int, help="Beam width for --decoder beam.")
@click.option("--no-cls", is_flag=True, help="Skip the 0/180 angle classifier.")
@click.option(
    "--fields",
    type=click.Choice(["receipt"]),
    help="Also read key fields (receipt: company, date, address, total); with --json.",
)
@click.option("--threads", type=int, help="Inference threads (default: OCR_INTRA_OP_THREADS).")
def predict(
    images: tuple[Path, ...],
    model: str | None,
    as_json: bool,
    as_text: bool,
    decoder: str | None,
    beam_width: int | None,
    no_cls: bool,
    fields: str | None,
    threads: int | None,
) -> None:
    """Read the text in IMAGES (JPEG, PNG, WebP, BMP, TIFF, GIF)."""
    if as_json and as_text:
        raise click.UsageError("--json and --text are exclusive")
    s = settings_with(threads)
    pipeline = open_pipeline(s, model)
    asked = {"use_cls": False if no_cls else None, "decoder": decoder, "beam_width": beam_width}
    asked["fields"] = fields
    changes = {k: v for k, v in asked.items() if v is not None}
    opts = s.ocr_options().updated(changes)
    failed = 0
    show_bar = len(images) > 3 and sys.stderr.isatty()
    for path in tqdm(images, unit="img", disable=not show_bar):
        try:
            result = pipeline.run(decode_image(path.read_bytes(), s.decode_limits()), opts)
        except OSError as exc:
            failed += _report(path, "IO_ERROR", exc.strerror or str(exc))
            continue
        except OcrError as exc:
            failed += _report(path, exc.code, exc.message)
            continue
        if as_json:
            doc = {"file": str(path), **result_document(result, opts)}
            click.echo(json.dumps(doc, ensure_ascii=False))
        else:
            if len(images) > 1:
                click.echo(f"==> {path} <==")
            click.echo(result_text(result))
            for name, found in result_document(result, opts).get("fields", {}).items():
                click.echo(f"{name}: {found['value'] if found else '-'}")
    if failed:
        raise CommandFailed(f"{failed} of {len(images)} images failed")


def _report(path: Path, code: str, message: str) -> int:
    click.echo(f"{path}: error {code}: {message}", err=True)
    return 1
