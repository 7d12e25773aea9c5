"""`ocr bench --dataset DIR`: latency, throughput, peak RSS and cold start on real images.

Writes the same files as benchmarks/peer_runner.py so one comparison covers us and the peers:
<out-dir>/ours-<dataset>-t<threads>.{summary.json,predictions.jsonl}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from models.eval.bench import BenchRecorder, set_thread_env, write_predictions, write_summary


@click.command()
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder with labels.jsonl.",
)
@click.option("--limit", type=int, help="Only the first N images.")
@click.option("--threads", type=int, default=1, show_default=True, help="Inference threads.")
@click.option("--model", "-m", help="Model set name or alias.")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Write summary + predictions.")
@click.option("--progress/--no-progress", default=True)
def bench(
    dataset: Path,
    limit: int | None,
    threads: int,
    model: str | None,
    out_dir: Path | None,
    progress: bool,
) -> None:
    """Time the whole pipeline per image (decode included) with fixed thread settings."""
    set_thread_env(threads)  # before the runtime creates its thread pools
    from models.eval.datasets import load_dataset
    from models.eval.report import format_table
    from models.eval.runner import evaluate
    from service.cli.common import dataset_predictor, default_options, open_pipeline, settings_with

    ds = load_dataset(dataset, limit=limit)
    s = settings_with(threads)
    config = {
        "model_set": s.model_set if model is None else model,
        "intra_op_threads": threads,
        "inter_op_threads": s.inter_op_threads,
        "cpu_mem_arena": s.cpu_mem_arena,
        "graph_optimization": s.graph_optimization,
        "pid": os.getpid(),
    }
    rec = BenchRecorder("ours", ds.name, threads, config)
    with rec.load():
        pipeline = open_pipeline(s, model)
    predict = dataset_predictor(pipeline, ds.kind, default_options(s), s)

    def timed(path: Path) -> dict[str, object]:
        with rec.measure():
            return dict(predict(path))

    report, records = evaluate(ds, timed, progress, on_error="empty")
    summary = rec.summary()
    summary["accuracy"] = report.metrics
    click.echo(json.dumps(summary, indent=2))
    click.echo(format_table([report]), err=True)
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = out_dir / f"ours-{ds.name}-t{threads}"
        write_summary(f"{stem}.summary.json", summary)
        write_predictions(f"{stem}.predictions.jsonl", records)
