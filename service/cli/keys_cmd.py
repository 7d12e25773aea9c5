"""`ocr keys new | hash`: API keys for OCR_API_KEYS, which holds only their SHA-256 digests."""

from __future__ import annotations

import sys

import click

from service.api.keys import key_digest, new_key
from service.cli.errors import SetupFailed


@click.group()
def keys() -> None:
    """API keys: OCR_API_KEYS lists digests (comma-separated); clients send the keys."""


@keys.command()
def new() -> None:
    """Make a random key: prints the key (give it to the client) and its digest (configure it)."""
    key = new_key()
    click.echo(f"key:    {key}\ndigest: {key_digest(key)}")


@keys.command("hash")
def hash_() -> None:
    """The digest of a key read from stdin (or a hidden prompt): never a command-line argument,
    which would land in the shell history and the process list."""
    tty = sys.stdin.isatty()
    key = (click.prompt("API key", hide_input=True) if tty else sys.stdin.readline()).strip()
    if not key:
        raise SetupFailed("no key given")
    click.echo(key_digest(key))
