"""`ocr predict IMAGE...`: OCR local image files, print text or JSON."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from service.cli.common import decode_limits, default_options, open_pipeline, settings_with
from service.ocr.decode import decode_image
from service.ocr.errors import OcrError
from service.ocr.layout import text_rows
from service.ocr.types import OcrResult


def result_json(path: Path, result: OcrResult) -> dict[str, Any]:
    return {
        "file": str(path),
        "width": result.width,
        "height": result.height,
        "model_set": result.model_set,
        "model_versions": result.model_versions,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
        "lines": [
            {
                "text": ln.text,
                "score": round(ln.score, 4),
                "angle": ln.angle,
                "polygon": [[round(x, 1), round(y, 1)] for x, y in ln.quad.points],
            }
            for ln in result.lines
        ],
    }


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "-m", help="Model set name or alias (default: OCR_MODEL_SET).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: one object per image.")
@click.option("--text", "as_text", is_flag=True, help="Plain text only (the default).")
@click.option("--decoder", type=click.Choice(["greedy", "beam"]), help="CTC decoding.")
@click.option("--beam-width", type=int, help="Beam width for --decoder beam.")
@click.option("--no-cls", is_flag=True, help="Skip the 0/180 angle classifier.")
@click.option("--threads", type=int, help="Inference threads (default: OCR_INTRA_OP_THREADS).")
def predict(
    images: tuple[Path, ...],
    model: str | None,
    as_json: bool,
    as_text: bool,
    decoder: str | None,
    beam_width: int | None,
    no_cls: bool,
    threads: int | None,
) -> None:
    """Read the text in IMAGES (JPEG, PNG, WebP, BMP, TIFF, GIF)."""
    if as_json and as_text:
        raise click.UsageError("--json and --text are exclusive")
    s = settings_with(threads)
    pipeline = open_pipeline(s, model)
    opts = default_options(s)
    changes: dict[str, Any] = {"use_cls": opts.use_cls and not no_cls}
    if decoder:
        changes["decoder"] = decoder
    if beam_width:
        changes["beam_width"] = beam_width
    opts = dataclasses.replace(opts, **changes)
    failed = 0
    show_bar = len(images) > 3 and sys.stderr.isatty()
    for path in tqdm(images, unit="img", disable=not show_bar):
        try:
            result = pipeline.run(decode_image(path.read_bytes(), decode_limits(s)), opts)
        except (OSError, OcrError) as exc:
            failed += 1
            code = getattr(exc, "code", "IO_ERROR")
            click.echo(f"{path}: error {code}: {getattr(exc, 'message', exc)}", err=True)
            continue
        if as_json:
            click.echo(json.dumps(result_json(path, result), ensure_ascii=False))
        else:
            if len(images) > 1:
                click.echo(f"==> {path} <==")
            click.echo("\n".join(text_rows(result.lines)))
    sys.exit(1 if failed else 0)
