"""`ocr models ...`: list, pull, verify, show the model sets of the catalogue."""

from __future__ import annotations

import json
import sys

import click

from models.registry.catalogue import Catalogue, ModelSet
from models.registry.errors import RegistryError
from models.registry.store import ModelStore, parse_source_override
from service.cli.errors import CommandFailed
from service.cli.lazy import Lazy, LazyGroup
from service.runtime.loader import catalogue_from_settings
from service.settings import get_settings


def catalogue_and_store() -> tuple[Catalogue, ModelStore]:
    s = get_settings()
    return catalogue_from_settings(s), ModelStore(s.model_dir)


def _selected(cat: Catalogue, names: tuple[str, ...], all_: bool) -> list[ModelSet]:
    if all_:
        return list(cat.sets.values())
    return [cat.get(n) for n in names] if names else [cat.get()]


LAZY: Lazy = {  # these need optional extras (onnx, paddle2onnx, ...): imported when invoked
    "import-paddle": ("service.cli.import_paddle_cmd", "import_paddle", "paddle"),
    "derive": ("service.cli.derive_cmd", "derive", "convert"),
}


@click.group(cls=LazyGroup, lazy=LAZY)
def models() -> None:
    """Manage the local model store (catalogue: models/catalogue.yaml)."""


@models.command("list")
def list_() -> None:
    """Model sets, whether pulled, and which is the default."""
    cat, store = catalogue_and_store()
    width = max(len(ms.name) for ms in cat.sets.values())
    for ms in cat.sets.values():
        mark = "*" if ms.name == cat.default else " "
        state = "pulled" if store.is_pulled(ms) else "not pulled"
        aliases = ", ".join(ms.aliases)
        extra = "" if ms.precision == "fp32" else f" [{ms.precision}]"
        click.echo(
            f"{mark} {ms.name:<{width}} {ms.version:<18} {state:<11} aliases: {aliases}{extra}"
        )
    click.echo(f"store: {store.root}")


@models.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every set of the catalogue.")
@click.option("--force", is_flag=True, help="Fetch again even when present and valid.")
def pull(names: tuple[str, ...], all_: bool, force: bool) -> None:
    """Fetch model sets into the store, verifying every sha256 (default: the default set)."""
    cat, store = catalogue_and_store()
    try:
        overrides = parse_source_override(get_settings().model_source_override)
        for ms in _selected(cat, names, all_):
            path = store.pull(ms, source=overrides.get(ms.name), force=force)
            click.echo(f"{ms.name}: ok ({path})", err=True)
    except RegistryError as exc:
        raise CommandFailed(str(exc)) from exc


@models.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every set of the catalogue.")
def verify(names: tuple[str, ...], all_: bool) -> None:
    """Check the sha256 of every stored file; exit 1 on any mismatch or missing file."""
    cat, store = catalogue_and_store()
    failed = False
    for ms in _selected(cat, names, all_):
        try:
            store.resolve(ms)
            click.echo(f"{ms.name}: ok")
        except RegistryError as exc:
            failed = True
            click.echo(f"{ms.name}: FAILED: {exc}", err=True)
    sys.exit(1 if failed else 0)


@models.command()
@click.argument("name", required=False)
def show(name: str | None) -> None:
    """The model card of a set: files, digests, input contracts, source, licence."""
    cat, _ = catalogue_and_store()
    try:
        ms = cat.get(name)
    except RegistryError as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(json.dumps(ms.model_dump(mode="json"), indent=2))
