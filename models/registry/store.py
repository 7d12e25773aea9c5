"""The local model store: `<root>/<set name>/<file name>`, every file verified by sha256."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.registry.catalogue import TASKS, ModelSet, Source, Task, TaskModel
from models.registry.errors import ChecksumMismatch, FetchError, ModelNotPulled, RegistryError
from models.registry.sources import fetch, sha256_file

log = logging.getLogger(__name__)
LOCAL_CATALOGUE = "local-catalogue.yaml"


def default_store_root() -> Path:
    """The per-user cache (XDG); the service's setting OCR_MODEL_DIR overrides it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ocr-service" / "models"


@dataclass(frozen=True)
class ResolvedTask:
    """One task's model with its verified local paths (primary file first)."""

    spec: TaskModel
    paths: tuple[Path, ...]

    @property
    def path(self) -> Path:
        return self.paths[0]


@dataclass(frozen=True)
class ResolvedSet:
    spec: ModelSet
    tasks: dict[Task, ResolvedTask]

    @property
    def name(self) -> str:
        return self.spec.name


class ModelStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_store_root()

    def set_dir(self, ms: ModelSet) -> Path:
        return self.root / ms.name

    @property
    def local_catalogue(self) -> Path:
        """The overlay of sets made on this machine, beside the files it pins."""
        return self.root / LOCAL_CATALOGUE

    def install(self, name: str, files: dict[str, Path]) -> Path:
        """Copy locally made files into `<root>/<name>/`, replacing that set atomically."""
        with self._staged(name) as staging:
            for file_name, src in files.items():
                shutil.copyfile(src, staging / file_name)
        return self.root / name

    @contextmanager
    def _staged(self, name: str) -> Iterator[Path]:
        """A staging folder that becomes `<root>/<name>/` in one rename if the block succeeds,
        and disappears if it fails: readers see the old set or the new one, never a mix."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            yield staging
            target = self.root / name
            if target.exists():
                shutil.rmtree(target)
            staging.chmod(0o755)  # mkdtemp makes it 0700: the service may run as another user
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def is_pulled(self, ms: ModelSet) -> bool:
        d = self.set_dir(ms)
        return all((d / f.name).is_file() for t in ms.models.values() for f in t.files)

    def pull(self, ms: ModelSet, source: Source | None = None, force: bool = False) -> Path:
        """Fetch, verify and atomically install a set. A no-op when already present and valid."""
        if not force and self.is_pulled(ms):
            try:
                self.resolve(ms)
                return self.set_dir(ms)
            except ChecksumMismatch as exc:
                log.warning("re-pulling %s: %s", ms.name, exc)
        if source is not None:  # a mirror holds every file of the set, borrowed ones too
            models = {t: m.model_copy(update={"source": None}) for t, m in ms.models.items()}
            ms = ms.model_copy(update={"source": source, "models": models})
        if ms.source.kind == "local":
            how = ms.source.recipe or "the command that made it"
            raise FetchError(
                f"model set {ms.name!r} was made on this machine and is missing or damaged in "
                f"{self.set_dir(ms)}; re-make it with: {how}"
            )
        with self._staged(ms.name) as staging:
            fetch(ms, staging)
        log.info("pulled %s into %s", ms.name, self.set_dir(ms))
        return self.set_dir(ms)

    def resolve(self, ms: ModelSet, verify: bool = True) -> ResolvedSet:
        """Local paths of a pulled set; every file's sha256 is checked unless verify=False."""
        d = self.set_dir(ms)
        tasks: dict[Task, ResolvedTask] = {}
        for task in TASKS:
            spec = ms.models[task]
            paths = tuple(d / f.name for f in spec.files)
            for f, p in zip(spec.files, paths, strict=True):
                self._verify(ms, f.name, f.sha256, p, verify)
            tasks[task] = ResolvedTask(spec=spec, paths=paths)
        return ResolvedSet(spec=ms, tasks=tasks)

    @staticmethod
    def _verify(ms: ModelSet, name: str, sha: str, path: Path, verify: bool) -> None:
        if not path.is_file():
            raise ModelNotPulled(
                f"model set {ms.name!r} is not in the store ({path} missing); "
                f"run `ocr models pull {ms.name}`"
            )
        if verify and sha256_file(path) != sha:
            raise ChecksumMismatch(
                f"{path} does not match its pinned sha256 {sha}; refusing to load it. "
                f"Run `ocr models pull {ms.name} --force` to restore it."
            )


def parse_source_override(text: str) -> dict[str, Source]:
    """`name=dir:/path;other=url:https://mirror/x/` -> per-set source overrides.

    The pins (sha256) stay those of the catalogue: an override changes where bytes come from,
    never which bytes are accepted.
    """
    out: dict[str, Source] = {}
    for item in filter(None, (s.strip() for s in text.split(";"))):
        name, _, rest = item.partition("=")
        kind, _, arg = rest.partition(":")
        if kind == "dir" and arg:
            out[name] = Source(kind="dir", path=arg)
        elif kind == "url" and arg:
            out[name] = Source(kind="url", url=arg)
        else:
            raise RegistryError(
                f"bad source override {item!r}; use NAME=dir:/path or NAME=url:https://host/dir/"
            )
    return out
