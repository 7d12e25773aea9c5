"""`ocr models derive SET --precision fp16|int8`: a lower-precision copy of a model set,
registered as its own catalogue entry only when `ocr eval` on fixed dev-set slices stays within
`--tolerance` points of the FP32 base on every metric (models/quantize/gate.py).

INT8 is calibrated on real dev-set images drawn (seeded) from records outside the evaluation
slices, through the serving pre-processing: pages through the detector's resize/normalise, line
and word crops through the recogniser's and classifier's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import click
import numpy as np

from models.eval.datasets import Dataset, Sample, load_dataset
from models.eval.runner import evaluate
from models.quantize.calibration import (
    ArrayReader,
    draw_calibration,
    model_input_name,
    sample_keys,
    split_count,
)
from models.quantize.fp16 import convert_fp16
from models.quantize.gate import (
    CALIBRATION_SETS,
    GateSlice,
    admission_record,
    admission_table,
    compare_reports,
    gate_slices,
)
from models.quantize.int8 import Int8Config, quantize_int8
from models.registry.catalogue import Catalogue, FileSpec, ModelSet, Source, save_local_set
from models.registry.errors import RegistryError
from models.registry.sources import sha256_file
from models.registry.store import ModelStore, ResolvedSet
from service.cli.common import dataset_predictor, reading_files, resolve_dataset
from service.cli.errors import CommandFailed, SetupFailed
from service.ocr.classify import preprocess as cls_preprocess
from service.ocr.decode import decode_image
from service.ocr.detect import DetInputSpec, preprocess_image
from service.ocr.errors import OcrError
from service.ocr.recognize import DEFAULT_BUCKETS, RecShape
from service.ocr.recognize import preprocess as rec_preprocess
from service.runtime.loader import catalogue_from_settings, load_pipeline
from service.settings import Settings, get_settings

CALIB_DEFAULT = {"det": 16, "cls": 256, "rec": 300}
Drawn = list[tuple[Dataset, Sample]]
Metrics = dict[str, dict[str, float]]


def _slice_dataset(sl: GateSlice) -> Dataset:
    return load_dataset(resolve_dataset(sl.dataset), limit=sl.limit, offset=sl.offset)


def _evaluate(
    s: Settings, set_name: str, slices: Sequence[GateSlice], cache: Path | None
) -> Metrics:
    """`ocr eval` of a set on the slices (metrics per slice key); the base set's results are
    cached by file digests + options + slice, since re-running them changes nothing."""
    pipeline = load_pipeline(s, set_name)
    opts = s.ocr_options()
    out: Metrics = {}
    for sl in slices:
        digest = hashlib.sha256(
            json.dumps([pipeline.versions, repr(opts), sl.key], sort_keys=True).encode()
        ).hexdigest()[:24]
        hit = cache / f"{digest}.json" if cache else None
        if hit and hit.is_file():
            out[sl.key] = json.loads(hit.read_text())
            continue
        ds = _slice_dataset(sl)
        predict = dataset_predictor(pipeline, ds.kind, opts, s)
        report, _ = evaluate(ds, reading_files(predict), False, on_error="empty")
        if report.counts.get("errors"):
            raise OcrError(f"{report.counts['errors']} images failed on {sl.key}")
        out[sl.key] = {k: float(v) for k, v in report.metrics.items() if "latency" not in k}
        click.echo(f"  {set_name} {sl.key}: {_brief(out[sl.key])}", err=True)
        if hit:
            hit.parent.mkdir(parents=True, exist_ok=True)
            hit.write_text(json.dumps(out[sl.key]))
    return out


def _brief(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if not k.startswith("n_"))


def _calibration(
    task: str, n: int, seed: int, calib_dirs: Sequence[Path], exclude: frozenset[str]
) -> Drawn:
    """A seeded draw of `n` samples for `task`, sharing no image with the evaluation slices."""
    wanted = {"det": "page", "cls": "angle", "rec": "crop"}[task]
    roots = list(calib_dirs) or [resolve_dataset(d) for d in CALIBRATION_SETS[task]]
    pools = [d for d in (load_dataset(r) for r in roots) if d.kind == wanted]
    if not pools:
        raise click.UsageError(f"no {wanted} dataset to calibrate {task} from")
    drawn: Drawn = []
    for ds, k in zip(pools, split_count(n, len(pools)), strict=True):
        items = [(ds, smp) for smp in ds.samples]
        drawn += draw_calibration(items, k, seed, keys=lambda it: sample_keys(*it), exclude=exclude)
    return drawn


def _tensors(task: str, drawn: Drawn, base: ResolvedSet, s: Settings) -> Iterator[np.ndarray]:
    """Model inputs exactly as serving makes them, one engine call's batch at a time."""
    limits = s.decode_limits()
    spec = base.tasks[task].spec.input  # type: ignore[index]
    pixels = (decode_image(ds.image_path(smp).read_bytes(), limits).pixels for ds, smp in drawn)
    if task == "det":
        det = DetInputSpec(spec.mean, spec.std, spec.channel_order, spec.scale)
        for px in pixels:
            yield preprocess_image(px, s.ocr_options().det, det)[0]
    elif task == "rec":
        shape = RecShape(height=spec.height or 48, buckets=spec.buckets or DEFAULT_BUCKETS)
        for px in pixels:
            for row in rec_preprocess([px], shape):
                yield row.tensor[np.newaxis]
    else:
        chunk = list(pixels)
        for i in range(0, len(chunk), 16):
            yield np.stack(
                cls_preprocess(chunk[i : i + 16], spec.height or 48, spec.width or 192)[0]
            )


def _derive_file(
    task: str, src: Path, dst: Path, precision: str, opts: dict[str, Any], make: ArrayReader | None
) -> dict[str, Any]:
    if precision == "fp16":
        convert_fp16(src, dst, op_block=opts["fp16_block_op"])
        return {"fp16_block_ops": list(opts["fp16_block_op"])}
    assert make is not None
    info = quantize_int8(src, dst, make, opts["int8"])
    info["calibration_tensors"] = make.count
    return info


def _candidate(
    base: ModelSet, name: str, precision: str, derived: dict[str, Path], recipe: str
) -> ModelSet:
    models = dict(base.models)
    for task, path in derived.items():
        spec = base.models[task]  # type: ignore[index]
        first = FileSpec(name=path.name, sha256=sha256_file(path))
        models[task] = spec.model_copy(update={"files": (first, *spec.files[1:])})  # type: ignore[index]
    doc = base.model_dump(mode="json", exclude={"name", "aliases", "admission"})
    doc.update(
        version=f"{base.version}-{precision}",
        description=f"{precision.upper()} of {base.name} ({', '.join(sorted(derived))}). "
        + base.description,
        source=Source(kind="local", recipe=recipe).model_dump(mode="json", exclude_none=True),
        models={t: m.model_dump(mode="json") for t, m in models.items()},
        precision=precision,
        derived_from=base.name,
    )
    return ModelSet.model_validate(doc).model_copy(update={"name": name})


def _set_files(base: ResolvedSet, derived: dict[str, Path]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for task, rt in base.tasks.items():
        for f, p in zip(rt.spec.files, rt.paths, strict=True):
            files[f.name] = p
        if task in derived:
            del files[rt.spec.files[0].name]
            files[derived[task].name] = derived[task]
    return files


def _recipe(set_name: str, opts: dict[str, Any]) -> str:
    parts = ["ocr models derive", set_name, f"--precision {opts['precision']}"]
    parts += [f"--tasks {','.join(opts['tasks'])}", f"--name {opts['name']}"]
    parts += [f"--tolerance {opts['tolerance']:g}", f"--seed {opts['seed']}"]
    if opts["precision"] == "int8":
        cfg: Int8Config = opts["int8"]
        parts += [f"--method {cfg.method}", "--per-channel" if cfg.per_channel else "--per-tensor"]
        parts += [f"--exclude-op {o}" for o in cfg.exclude_ops]
        parts += [f"--exclude-node {n}" for n in cfg.exclude_nodes]
        parts += [f"--fp32-tail {cfg.fp32_tail}"] if cfg.fp32_tail else []
        parts += [f"--calib-limit {opts['calib_limit']}"] if opts["calib_limit"] else []
        parts += [f"--calib-dir {d}" for d in opts["calib_dir"]]
    parts += [f"--fp16-block-op {o}" for o in opts["fp16_block_op"]]
    parts += [f"--eval-limit {opts['eval_limit']}"] if opts["eval_limit"] else []
    return " ".join(parts)


@click.command("derive")
@click.argument("set_name", metavar="SET")
@click.option("--precision", type=click.Choice(["fp16", "int8"]), required=True)
@click.option("--tasks", default="det,cls,rec", show_default=True, help="Stages to convert.")
@click.option("--name", help="Name of the new set (default SET-PRECISION).")
@click.option("--tolerance", type=float, default=0.5, show_default=True, help="Points, per metric.")
@click.option("--calib-dir", multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--calib-limit", type=int, help=f"Calibration samples per task {CALIB_DEFAULT}.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--eval-limit", type=int, help="Cap every gate slice at N records (quick runs).")
@click.option("--method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax")
@click.option("--per-channel/--per-tensor", default=True, show_default=True)
@click.option("--exclude-op", multiple=True, help="INT8: op type kept in float (repeatable).")
@click.option("--exclude-node", multiple=True, help="INT8: node kept in float (repeatable).")
@click.option("--fp32-tail", type=int, default=0, help="INT8: keep the last N compute nodes.")
@click.option("--fp16-block-op", multiple=True, help="FP16: op type kept in float32.")
@click.option("--threads", type=int, help="Inference threads for the gate's evaluation.")
@click.option("--work-dir", type=click.Path(path_type=Path), help="Keep the candidate here.")
@click.option("--report", type=click.Path(path_type=Path), help="Write the gate as JSON here.")
@click.option("--cache/--no-cache", default=True, help="Reuse the base set's gate results.")
def derive(set_name: str, **kw: Any) -> None:
    """Convert SET to FP16 or INT8 and register it only if it passes the accuracy gate."""
    s = get_settings()
    s = s if kw["threads"] is None else s.model_copy(update={"intra_op_threads": kw["threads"]})
    store = ModelStore(s.model_dir)
    try:
        cat = catalogue_from_settings(s)
        base_ms = cat.get(set_name)
        base = store.resolve(base_ms)
    except RegistryError as exc:
        raise SetupFailed(str(exc)) from exc
    tasks = [t.strip() for t in kw["tasks"].split(",") if t.strip()]
    if not tasks or any(t not in ("det", "cls", "rec") for t in tasks):
        raise click.BadParameter(f"--tasks takes det,cls,rec; got {kw['tasks']!r}")
    if base_ms.precision != "fp32" or any(base_ms.models[t].format != "onnx" for t in tasks):
        raise SetupFailed(f"{base_ms.name} is not an FP32 ONNX set; derive from one")
    opts = dict(kw, tasks=tasks, precision=kw["precision"])
    opts["name"] = kw["name"] or f"{base_ms.name}-{kw['precision']}"
    opts["int8"] = Int8Config(
        method=kw["method"],
        per_channel=kw["per_channel"],
        exclude_ops=tuple(kw["exclude_op"]),
        exclude_nodes=tuple(kw["exclude_node"]),
        fp32_tail=kw["fp32_tail"],
    )
    work = Path(kw["work_dir"] or tempfile.mkdtemp(prefix="ocr-derive-"))
    try:
        _run(s, cat, store, base, set_name, opts, work)
    finally:
        if not kw["work_dir"]:
            shutil.rmtree(work, ignore_errors=True)


def _run(
    s: Settings,
    cat: Catalogue,
    store: ModelStore,
    base: ResolvedSet,
    set_name: str,
    opts: dict[str, Any],
    work: Path,
) -> None:
    name, precision, tasks = opts["name"], opts["precision"], opts["tasks"]
    slices = gate_slices(tasks, opts["eval_limit"])
    datasets = [_slice_dataset(sl) for sl in slices]
    kinds = {sl.key: ds.kind for sl, ds in zip(slices, datasets, strict=True)}
    exclude = frozenset(k for ds in datasets for smp in ds.samples for k in sample_keys(ds, smp))
    derived: dict[str, Path] = {}
    details: dict[str, Any] = {}
    (work / "files").mkdir(parents=True, exist_ok=True)
    for task in tasks:
        src = base.tasks[task].path
        dst = work / "files" / f"{src.stem}.{precision}.onnx"
        reader = None
        if precision == "int8":
            n = opts["calib_limit"] or CALIB_DEFAULT[task]
            drawn = _calibration(task, n, opts["seed"], opts["calib_dir"], exclude)
            details.setdefault("calibration", {})[task] = sorted({ds.name for ds, _ in drawn})
            reader = ArrayReader(model_input_name(src), partial(_tensors, task, drawn, base, s))
        click.echo(f"{precision} {task}: {src.name} -> {dst.name}", err=True)
        details[task] = _derive_file(task, src, dst, precision, opts, reader)
        derived[task] = dst
    candidate = _candidate(base.spec, name, precision, derived, _recipe(set_name, opts))
    staging = ModelStore(work / "store")
    staging.install(name, _set_files(base, derived))
    save_local_set(staging.local_catalogue, candidate, cat)
    cache = None if not opts["cache"] else store.root / ".derive-cache"
    click.echo(f"gate: {', '.join(sl.key for sl in slices)}", err=True)
    base_m = _evaluate(s, base.name, slices, cache)
    try:
        cand_m = _evaluate(s.model_copy(update={"model_dir": staging.root}), name, slices, None)
    except OcrError as exc:
        raise CommandFailed(
            f"{name}: the derived set does not run ({exc}); nothing registered."
        ) from exc
    adm = compare_reports(kinds, base_m, cand_m, opts["tolerance"])
    click.echo(admission_table(adm))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    record = admission_record(
        adm, slices, base_m, cand_m, date=today, tasks=tasks, base_set=base.name, details=details
    )
    if opts["report"]:
        opts["report"].write_text(json.dumps({"admitted": adm.admitted, **record}, indent=2))
    if not adm.admitted:
        raise CommandFailed(f"{name}: refused; nothing registered.")
    store.install(name, _set_files(base, derived))
    save_local_set(store.local_catalogue, candidate.model_copy(update={"admission": record}), cat)
    click.echo(f"{name}: admitted and registered in {store.local_catalogue}", err=True)
