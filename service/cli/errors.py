"""The one way a command fails: raise ``CommandFailed`` (exit 1: the work itself failed) or
``SetupFailed`` (exit 2: unusable input or set-up, e.g. a model set not pulled); click prints
``error: ...`` on stderr and exits with that code."""

from __future__ import annotations

from typing import IO, Any

import click


class CommandFailed(click.ClickException):
    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class SetupFailed(CommandFailed):
    exit_code = 2
