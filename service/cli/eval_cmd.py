"""`ocr eval --dataset DIR`: accuracy on labels.jsonl datasets; JSON report + printed table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import click

from models.eval.report import Report, format_table, score
from models.eval.runner import evaluate, load_predictions
from models.eval.runner import save_predictions as write_records
from service.cli.common import (
    dataset_predictor,
    open_dataset,
    open_pipeline,
    reading_files,
    settings_with,
)


@click.command("eval")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    required=True,
    help="A folder with labels.jsonl, or a name under OCR_DATASETS_DIR, with an optional "
    ":SPLIT (icdar2015_word_train:dev). Repeatable.",
)
@click.option("--limit", type=int, help="Only the first N samples (after --offset).")
@click.option("--offset", type=int, default=0, show_default=True)
@click.option("--model", "-m", help="Model set name or alias.")
@click.option("--decoder", type=click.Choice(["greedy", "beam"]))
@click.option("--threads", type=int)
@click.option(
    "--case-insensitive/--case-sensitive",
    default=None,
    help="Override the dataset protocol (SROIE and IIIT5K default to insensitive).",
)
@click.option(
    "--predictions",
    type=click.Path(exists=True, path_type=Path),
    help="Score this predictions JSONL instead of running the pipeline (one dataset).",
)
@click.option(
    "--save-predictions",
    type=click.Path(path_type=Path),
    help="Folder to write <dataset>.predictions.jsonl into.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the JSON report here.")
@click.option("--progress/--no-progress", default=True)
@click.option(
    "--task",
    type=click.Choice(["ocr", "receipt-fields"]),
    default="ocr",
    show_default=True,
    help="receipt-fields: SROIE task 3 (company, date, address, total) on key_fields labels.",
)
def eval_(
    datasets: tuple[str, ...],
    limit: int | None,
    offset: int,
    model: str | None,
    decoder: Literal["greedy", "beam"] | None,
    threads: int | None,
    case_insensitive: bool | None,
    predictions: Path | None,
    save_predictions: Path | None,
    out: Path | None,
    progress: bool,
    task: str,
) -> None:
    """Evaluate detection, end-to-end, word/line recognition or angle accuracy."""
    if predictions and len(datasets) != 1:
        raise click.UsageError("--predictions scores exactly one --dataset")
    if task == "receipt-fields":
        _fields(datasets, limit, offset, model, threads, out)
        return
    reports: list[Report] = []
    model_set = None
    if predictions:
        ds = open_dataset(datasets[0], limit=limit, offset=offset)
        reports.append(score(ds, load_predictions(predictions), case_insensitive=case_insensitive))
    else:
        s = settings_with(threads)
        pipeline = open_pipeline(s, model)
        model_set = {"name": pipeline.name, "versions": pipeline.versions}
        opts = s.ocr_options().updated({"decoder": decoder} if decoder else {})
        for d in datasets:
            ds = open_dataset(d, limit=limit, offset=offset)
            predict = dataset_predictor(pipeline, ds.kind, opts, s)
            report, records = evaluate(
                ds,
                reading_files(predict),
                progress,
                on_error="empty",
                case_insensitive=case_insensitive,
            )
            reports.append(report)
            if save_predictions:
                save_predictions.mkdir(parents=True, exist_ok=True)
                write_records(save_predictions / f"{ds.name}.predictions.jsonl", records)
    click.echo(format_table(reports))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"model_set": model_set, "reports": [r.to_dict() for r in reports]}
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False))
        click.echo(f"report written to {out}", err=True)


def _fields(
    datasets: tuple[str, ...],
    limit: int | None,
    offset: int,
    model: str | None,
    threads: int | None,
    out: Path | None,
) -> None:
    from service.cli.fields_eval import evaluate_fields, fields_table

    s = settings_with(threads)
    pipeline = open_pipeline(s, model)
    docs = {}
    for d in datasets:
        ds = open_dataset(d, limit=limit, offset=offset)
        report = evaluate_fields(ds, pipeline, s)
        click.echo(fields_table(ds.name, report))
        docs[ds.name] = report.as_dict()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"task": "receipt-fields", "reports": docs}, indent=2))
