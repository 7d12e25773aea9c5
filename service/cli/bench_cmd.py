"""`ocr bench --dataset DIR`: latency, throughput, peak RSS and cold start on real images.

Timed exactly like benchmarks/peer_runner.py (bytes read outside the timer; decode + pipeline
inside; no warm-up) and writes the same files, so one comparison covers us and the peers:
<out-dir>/ours-<dataset>-t<threads>.{summary.json,predictions.jsonl}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from models.eval.bench import BenchRecorder, set_thread_env, write_predictions, write_summary


@click.command()
@click.option("--dataset", required=True, help="Folder with labels.jsonl, or a dataset name.")
@click.option("--limit", type=int, help="Only the first N images.")
@click.option("--threads", type=int, default=1, show_default=True, help="Inference threads.")
@click.option("--model", "-m", help="Model set name or alias.")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Write summary + predictions.")
@click.option("--progress/--no-progress", default=True)
def bench(
    dataset: str,
    limit: int | None,
    threads: int,
    model: str | None,
    out_dir: Path | None,
    progress: bool,
) -> None:
    """Time the whole pipeline per image (decode included) with fixed thread settings."""
    set_thread_env(threads)  # before the runtime creates its thread pools
    from models.eval.report import format_table, score
    from service.cli.common import (
        dataset_predictor,
        open_dataset,
        open_pipeline,
        settings_with,
    )
    from service.cli.errors import CommandFailed
    from service.ocr.errors import OcrError

    ds = open_dataset(dataset, limit=limit)
    s = settings_with(threads)
    rec = BenchRecorder("ours", ds.name, threads)
    with rec.load():
        pipeline = open_pipeline(s, model)
    rec.config.update(
        model_set=pipeline.name,
        model_versions=pipeline.versions,
        settings=s.model_dump(mode="json", exclude_defaults=True),
    )
    predict = dataset_predictor(pipeline, ds.kind, s.ocr_options(), s)
    records: list[dict[str, Any]] = []
    samples = ds.samples
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, desc=ds.name, unit="img", leave=False)  # type: ignore[assignment]
    for sample in samples:
        data = ds.image_path(sample).read_bytes()
        start = time.perf_counter()
        with rec.measure():
            try:
                record = dict(predict(data))
            except OcrError as exc:
                record = {"error": f"{exc.code}: {exc.message}"}
        record.update(image=sample.image, latency_ms=(time.perf_counter() - start) * 1000)
        records.append(record)
    report = score(ds, records)
    summary = rec.summary()
    summary["errors"] = sum("error" in r for r in records)
    summary["accuracy"] = report.metrics
    click.echo(json.dumps(summary, indent=2))
    click.echo(format_table([report]), err=True)
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = out_dir / f"ours-{ds.name}-t{threads}"
        write_summary(f"{stem}.summary.json", summary)
        write_predictions(f"{stem}.predictions.jsonl", records)
    if summary["errors"]:
        raise CommandFailed(f"{summary['errors']} of {len(records)} images failed")
