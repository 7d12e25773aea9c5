"""`ocr predict FILE...`: OCR local images and PDFs; print text, JSON, hOCR or ALTO, or write a
searchable PDF."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from service.cli.common import open_pipeline, settings_with
from service.cli.errors import CommandFailed
from service.documents.formats import CONTENT_TYPES, render_document
from service.documents.options import PdfOptions
from service.documents.reading import read_document
from service.ocr.errors import OcrError
from service.settings import Settings

WORD_FORMATS = ("hocr", "alto", "pdf")
SUFFIX = {"hocr": ".hocr", "alto": ".alto.xml", "pdf": ".pdf"}


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "-m", help="Model set name or alias (default: OCR_MODEL_SET).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(CONTENT_TYPES)),
    help="json: POST /v1/ocr's body + file, one line per file; text (the default); hocr; "
    "alto; pdf: a searchable PDF (to --output, or stdout when not a terminal).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--text", "as_text", is_flag=True, help="Same as --format text.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="hocr/alto/pdf: the file to write (several inputs: a directory, one file each).",
)
@click.option("--pages", help='PDF input: the pages to read ("1-3,7"); default all.')
@click.option("--dpi", type=int, help="PDF input: render pages at this resolution.")
@click.option("--skip-text-pages", is_flag=True, help="PDF input: skip pages with a text layer.")
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
    fmt: str | None,
    as_json: bool,
    as_text: bool,
    output: Path | None,
    pages: str | None,
    dpi: int | None,
    skip_text_pages: bool,
    decoder: str | None,
    beam_width: int | None,
    no_cls: bool,
    fields: str | None,
    threads: int | None,
) -> None:
    """Read the text in IMAGES (JPEG, PNG, WebP, BMP, TIFF, GIF, PDF)."""
    fmt = _format(fmt, as_json, as_text)
    s = settings_with(threads)
    pipeline = open_pipeline(s, model)
    asked = {"use_cls": False if no_cls else None, "decoder": decoder, "beam_width": beam_width}
    asked["fields"] = fields
    asked["word_boxes"] = True if fmt in WORD_FORMATS else None
    opts = s.ocr_options().updated({k: v for k, v in asked.items() if v is not None})
    pdf = _pdf_options(s, pages, dpi, skip_text_pages)
    failed = 0
    show_bar = len(images) > 3 and sys.stderr.isatty()
    for path in tqdm(images, unit="img", disable=not show_bar):
        try:
            doc = read_document(pipeline, path.read_bytes(), opts, pdf, s.pdf_limits())
            _emit(doc, path, fmt, output, len(images))
        except OSError as exc:
            failed += _report(path, "IO_ERROR", exc.strerror or str(exc))
        except OcrError as exc:
            failed += _report(path, exc.code, exc.message)
    if failed:
        raise CommandFailed(f"{failed} of {len(images)} files failed")


def _format(fmt: str | None, as_json: bool, as_text: bool) -> str:
    chosen = [
        f for f, on in ((fmt or "", fmt is not None), ("json", as_json), ("text", as_text)) if on
    ]
    if len(chosen) > 1:
        raise click.UsageError("--format, --json and --text are exclusive")
    return chosen[0] if chosen else "text"


def _pdf_options(s: Settings, pages: str | None, dpi: int | None, skip: bool) -> PdfOptions:
    base = s.pdf_options()
    return PdfOptions(
        dpi=dpi or base.dpi, pages=pages or "", skip_text_pages=skip or base.skip_text_pages
    )


def _emit(doc: dict[str, Any], path: Path, fmt: str, output: Path | None, count: int) -> None:
    if fmt == "json":
        click.echo(json.dumps({"file": str(path), **doc}, ensure_ascii=False))
    elif fmt == "text":
        _echo_text(doc, path, count)
    else:
        _write(render_document(fmt, doc, path.read_bytes()), path, fmt, output, count)


def _echo_text(doc: dict[str, Any], path: Path, count: int) -> None:
    if count > 1:
        click.echo(f"==> {path} <==")
    click.echo(doc["text"])
    for name, found in doc.get("fields", {}).items():
        click.echo(f"{name}: {found['value'] if found else '-'}")


def _write(body: bytes, path: Path, fmt: str, output: Path | None, count: int) -> None:
    if output is None:
        if fmt == "pdf" and sys.stdout.isatty():
            raise click.UsageError("--format pdf writes binary: give --output FILE")
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    target = output / (path.stem + SUFFIX[fmt]) if count > 1 else output
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)


def _report(path: Path, code: str, message: str) -> int:
    click.echo(f"{path}: error {code}: {message}", err=True)
    return 1
