"""A click group whose sub-commands are imported only when invoked (or listed in --help):
`ocr predict` pays for neither uvicorn, FastAPI nor Redis, and a command whose optional extra
is missing still shows up and says what to install."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import click

from service.cli.errors import CommandFailed

Lazy = Mapping[str, tuple[str, str, str | None]]  # name -> (module, attribute, extra or None)


class LazyGroup(click.Group):
    def __init__(self, *args: object, lazy: Lazy, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, attr, extra = self.lazy[cmd_name]
        try:
            command: click.Command = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            if extra is None:
                raise
            return _missing_extra(ctx, cmd_name, extra, exc)
        return command


def _missing_extra(ctx: click.Context, name: str, extra: str, exc: ImportError) -> click.Command:
    where = f"{ctx.command_path} {name}"

    def run(args: tuple[str, ...]) -> None:
        raise CommandFailed(f"`{where}` needs pip install '.[{extra}]' ({exc})")

    return click.Command(
        name,
        callback=run,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True},
        help=f"(needs the `{extra}` extra: {exc.name})",
    )
