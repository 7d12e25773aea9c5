"""The errors of offline model conversion, shared by its modules.

`ConvertError` is the one user-facing failure (the CLI prints it and exits 1); `ParityError`
carries the parity measurements as well, so that the CLI can show the table that failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.convert.parity import Parity


class ConvertError(Exception):
    """A user-facing import failure: missing or corrupt export, conversion or parity failure."""


def brief(exc: BaseException) -> str:
    """The first line of a foreign error (Paddle's carry multi-line C++ hints)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class ParityError(ConvertError):
    def __init__(self, message: str, parity: list[Parity]) -> None:
        super().__init__(message)
        self.parity = parity
