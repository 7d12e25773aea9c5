"""Import a Paddle inference export as an ONNX model set, admitted only by a parity check.

    DIR/det/  DIR/cls/  DIR/rec/     each: inference.pdmodel (legacy) or inference.json (PIR)
                                     + inference.pdiparams [+ inference.yml as PaddleX writes it]
                                     rec also: a dictionary (--dict, a *.txt, or the yml's list)

Every task present in DIR is read (paddle_export.py), converted with paddle2onnx's Python API
and repaired where paddle2onnx 2.1 writes graphs that it or ONNX Runtime cannot handle
(paddle_to_onnx.py), and admitted only when ONNX Runtime reproduces Paddle Inference on fixed
inputs within `atol` (parity.py). Absent tasks are copied unchanged from a base set. The rec
dictionary is embedded in the ONNX metadata key ``character`` (newline-separated), like the
bundled sets. This module orchestrates: cheap checks first, then conversion and parity, and only
then the store and the local catalogue are written.

Paddle Inference itself is not imported here: the caller passes a `PaddleLoader` (the CLI uses
`service.engines.paddle.PaddleEngine`, the one Paddle loader of the project), so the offline side
does not depend on the service. paddle, paddle2onnx and onnx are imported lazily.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from models.convert.errors import ConvertError, ParityError, brief
from models.convert.paddle_export import (
    PLAIN_LINE,
    Dictionary,
    PaddleExport,
    contract_from_yml,
    find_dictionary,
    find_export,
    labels_from_yml,
)
from models.convert.paddle_to_onnx import OPSET, Converted, convert_export
from models.convert.parity import (
    DEFAULT_ATOL,
    PaddleRun,
    Parity,
    check_parity,
    load_samples,
    parity_inputs,
    rec_classes,
)
from models.registry.catalogue import (
    TASKS,
    Catalogue,
    DictionarySpec,
    FileSpec,
    InputContract,
    ModelSet,
    Source,
    Task,
    TaskModel,
    save_local_set,
)
from models.registry.sources import sha256_file
from models.registry.store import ModelStore

METADATA_KEY = "character"  # models/codec/charset.py METADATA_KEY

PaddleLoader = Callable[[tuple[Path, ...]], PaddleRun]
# Test hook: called with (task, converted ONNX path) after conversion, before the parity check.
AfterConvert = Callable[[Task, Path], None]


@dataclass(frozen=True)
class ImportRequest:
    source: Path  # DIR with det/ cls/ rec/
    name: str
    base: ModelSet  # contracts of every task, files of the tasks DIR lacks
    recipe: str  # the command line, recorded as source.recipe
    dictionary: Path | None = None
    samples: Path | None = None
    atol: float = DEFAULT_ATOL
    licence: str | None = None
    version: str | None = None
    force: bool = False


@dataclass(frozen=True)
class ImportReport:
    model_set: ModelSet
    parity: list[Parity]
    converted: tuple[Task, ...]  # tasks converted from the Paddle export
    copied: tuple[Task, ...]  # tasks taken unchanged from the base set
    set_dir: Path


def check_name(name: str, catalogue: Catalogue, force: bool) -> None:
    """Refuse a name that would shadow a catalogue set or alias, or an earlier import unless
    `force`, before any slow work is done."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConvertError(f"invalid set name {name!r}: use letters, digits, '.', '_' and '-'")
    existing = catalogue.sets.get(name)
    if existing is not None and existing.source.kind != "local":
        raise ConvertError(f"{name!r} is a catalogue set; choose another --name")
    if existing is not None and not force:
        raise ConvertError(f"{name!r} was imported before; pass --force to replace it")
    owners = [s.name for s in catalogue.sets.values() if name in s.aliases]
    if owners:
        raise ConvertError(f"{name!r} is an alias of {owners[0]!r}; choose another --name")


def _task_exports(req: ImportRequest) -> dict[Task, PaddleExport]:
    if not req.source.is_dir():
        raise ConvertError(f"{req.source} is not a directory (expected det/, cls/, rec/ in it)")
    exports = {t: e for t in TASKS if (e := find_export(req.source, t)) is not None}
    if not exports:
        raise ConvertError(f"{req.source} has none of det/, cls/, rec/ (Paddle inference exports)")
    return exports


def _spec_for(
    export: PaddleExport, base: TaskModel, file: FileSpec, d: Dictionary | None
) -> TaskModel:
    contract = contract_from_yml(export.task, export.config, base.input)
    if export.task in ("cls", "rec"):
        plain = InputContract(**PLAIN_LINE).model_dump(include=set(PLAIN_LINE))
        if contract.model_dump(include=set(PLAIN_LINE)) != plain:
            raise ConvertError(
                f"{export.task} input contract {contract} is not supported: the service's "
                f"{export.task} stage normalises BGR pixels as x / 255 with mean = std = 0.5"
            )
    # the base set's decoding calibration too: a PP-OCR export under-reads spaces as its base does
    dictionary = (
        DictionarySpec(embedded=METADATA_KEY, space=d.space, space_weight=base.space_weight)
        if d
        else None
    )
    return TaskModel(
        format="onnx",
        files=(file,),
        input=contract,
        dictionary=dictionary,
        labels=labels_from_yml(export.config, base.labels) if export.task == "cls" else None,
    )


@dataclass(frozen=True)
class _Checked:
    file: FileSpec
    spec: TaskModel
    converted: Converted
    parity: Parity


def _convert_and_check(
    export: PaddleExport,
    req: ImportRequest,
    work: Path,
    dictionary: Dictionary | None,
    samples: Sequence[np.ndarray],
    load_paddle: PaddleLoader,
    after_convert: AfterConvert | None,
) -> _Checked:
    task = export.task
    dictionary = dictionary if task == "rec" else None
    meta = {METADATA_KEY: dictionary.text()} if dictionary is not None else {}
    conv = convert_export(export, work / f"{task}.onnx", meta)
    if after_convert is not None:
        after_convert(task, conv.path)
    file = FileSpec(name=f"{task}.onnx", sha256=sha256_file(conv.path))
    spec = _spec_for(export, req.base.models[task], file, dictionary)
    if dictionary is not None:
        _check_classes(conv.path, spec.input, dictionary)
    try:
        run = load_paddle(export.paths)
    except Exception as exc:
        raise ConvertError(f"Paddle Inference cannot load {export.dir}: {brief(exc)}") from exc
    inputs = parity_inputs(task, spec.input, samples if task != "cls" else ())
    return _Checked(file, spec, conv, check_parity(task, conv.path, run, inputs))


def _rec_dictionary(req: ImportRequest, exports: dict[Task, PaddleExport]) -> Dictionary | None:
    if "rec" not in exports:
        return None
    base = req.base.models["rec"].dictionary
    rec = exports["rec"]
    return find_dictionary(rec.dir, rec.config, req.dictionary, base.space if base else True)


def import_paddle(
    req: ImportRequest,
    catalogue: Catalogue,
    store: ModelStore,
    load_paddle: PaddleLoader,
    after_convert: AfterConvert | None = None,
) -> ImportReport:
    """Convert, check parity, and only then install the files and write the catalogue entry.

    Raises ConvertError (ParityError when outputs differ by more than req.atol); on any error
    neither the store nor the local catalogue is touched. Cheap checks come first."""
    check_name(req.name, catalogue, req.force)
    exports = _task_exports(req)
    copied = tuple(t for t in TASKS if t not in exports)
    dictionary = _rec_dictionary(req, exports)
    samples = load_samples(req.samples)
    base = store.resolve(req.base, verify=True).tasks if copied else {}
    with tempfile.TemporaryDirectory(prefix=f"import-{req.name}-") as tmp:
        work = Path(tmp)
        checked = {
            task: _convert_and_check(
                export, req, work, dictionary, samples, load_paddle, after_convert
            )
            for task, export in exports.items()
        }
        parity = [c.parity for c in checked.values()]
        failed = [p for p in parity if not p.passed(req.atol)]
        if failed:
            worst = ", ".join(f"{p.task} {p.max_abs:.3g}" for p in failed)
            raise ParityError(f"parity failed (max abs > atol {req.atol:g}): {worst}", parity)
        files = {c.file.name: c.converted.path for c in checked.values()}
        models = {task: c.spec for task, c in checked.items()}
        for task in copied:
            for f, path in zip(base[task].spec.files, base[task].paths, strict=True):
                if f.name in files:
                    raise ConvertError(f"base set file {f.name!r} clashes with another file")
                files[f.name] = path
            models[task] = base[task].spec
        converted = {task: c.converted for task, c in checked.items()}
        ms = _model_set(req, models, parity, converted, copied, dictionary)
        set_dir = _install(ms, files, catalogue, store)
    return ImportReport(ms, parity, tuple(converted), copied, set_dir)


def _check_classes(path: Path, c: InputContract, d: Dictionary) -> None:
    classes = rec_classes(path, c)
    expected = 1 + len(d.symbols) + int(d.space)
    if classes != expected:
        space = " + 1 space" if d.space else ""
        raise ConvertError(
            f"the rec model outputs {classes} classes but dictionary {d.origin} gives {expected} "
            f"(1 blank + {len(d.symbols)} symbols{space}): wrong dictionary for this model?"
        )


def _model_set(
    req: ImportRequest,
    models: dict[Task, TaskModel],
    parity: list[Parity],
    converted: dict[Task, Converted],
    copied: tuple[Task, ...],
    dictionary: Dictionary | None,
) -> ModelSet:
    import paddle2onnx

    made = ", ".join(converted)
    desc = f"Paddle export {req.source.resolve()} ({made}) converted to ONNX"
    if copied:
        desc += f"; {', '.join(copied)} from {req.base.name}"
    if dictionary is not None:
        desc += f"; dictionary from {dictionary.origin}"
    return ModelSet(
        name=req.name,
        version=req.version or f"{date.today():%Y.%m.%d}-import",
        description=desc,
        languages=req.base.languages,
        licence=req.licence or req.base.licence,
        origin=f"imported with paddle2onnx {paddle2onnx.__version__}; base set {req.base.name}",
        source=Source(kind="local", recipe=req.recipe),
        models=models,
        derived_from=str(req.source.resolve()),
        admission={
            "gate": "paddle-inference-vs-onnxruntime parity",
            "atol": req.atol,
            "opset": OPSET,
            "tasks": {p.task: p.as_dict() for p in parity},
            "repairs": {t: c.repairs for t, c in converted.items()},
            "base": req.base.name,
        },
    )


def _install(ms: ModelSet, files: dict[str, Path], catalogue: Catalogue, store: ModelStore) -> Path:
    target = store.root / ms.name
    existed = target.exists()
    path = store.install(ms.name, files)
    try:
        save_local_set(store.local_catalogue, ms, catalogue)
    except Exception:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return path
