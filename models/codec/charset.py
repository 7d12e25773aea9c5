"""The recogniser's class table: CTC blank, the dictionary's symbols, an optional space class.

Class layout (PP-OCR's convention, shared by serving, eval and training)::

    0            CTC blank
    1 .. n       the dictionary's symbols, in file order
    n + 1        " "  (only when ``use_space``; PP-OCR's ``use_space_char``)

The dictionary is one symbol per line: a text file, or the newline-separated string PP-OCR ONNX
exports embed in their metadata (key ``character``). Only line breaks are stripped, so a line
holding a single space is a symbol like any other. Duplicates are kept: indices are what matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

BLANK = 0
METADATA_KEY = "character"


class CharsetError(ValueError):
    """A dictionary that cannot be used: empty, unreadable, or the wrong size for the model."""


class Charset:
    """Maps CTC class indices to text and back."""

    def __init__(self, symbols: Sequence[str], use_space: bool = True) -> None:
        if not symbols:
            raise CharsetError("a charset needs at least one symbol")
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.use_space = use_space
        self._set_table(("", *self.symbols, *((" ",) if use_space else ())))

    def _set_table(self, table: tuple[str, ...]) -> None:
        self._table = table
        self._index: dict[str, int] = {}
        for i, sym in enumerate(table[1:], start=1):
            self._index.setdefault(sym, i)

    @classmethod
    def from_text(cls, text: str, use_space: bool = True) -> Charset:
        """From newline-separated symbols (a dictionary file's content or ONNX metadata)."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # a final newline ends the last line; it is not an empty symbol
        return cls([line.removesuffix("\r") for line in lines], use_space=use_space)

    @classmethod
    def from_file(cls, path: Path | str, use_space: bool = True) -> Charset:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CharsetError(f"cannot read dictionary {path}: {exc}") from exc
        return cls.from_text(text, use_space=use_space)

    @classmethod
    def from_metadata(
        cls, metadata: dict[str, str], use_space: bool = True, key: str = METADATA_KEY
    ) -> Charset:
        """From an ONNX model's custom metadata (``OnnxEngine.metadata``)."""
        if key not in metadata:
            raise CharsetError(f"model metadata has no dictionary under key {key!r}")
        return cls.from_text(metadata[key], use_space=use_space)

    @property
    def space_id(self) -> int:
        """The space's class (the last one; only meaningful with ``use_space``)."""
        return len(self._table) - 1

    def __len__(self) -> int:
        """Number of model output classes this charset expects (blank included)."""
        return len(self._table)

    def __repr__(self) -> str:
        return f"Charset({len(self.symbols)} symbols, use_space={self.use_space})"

    def validate(self, num_classes: int) -> None:
        """Raise ``CharsetError`` unless a model with ``num_classes`` outputs fits this table."""
        if num_classes != len(self):
            space = " + 1 space" if self.use_space else ""
            raise CharsetError(
                f"model outputs {num_classes} classes but the charset has {len(self)} "
                f"(1 blank + {len(self.symbols)} symbols{space}); wrong dictionary or "
                f"use_space setting for this model?"
            )

    def subset(self, class_ids: Sequence[int]) -> Charset:
        """The charset of a table cut down to ``class_ids`` (blank first): class i is
        ``class_ids[i]`` here (see ``TopK.dense``)."""
        if len(class_ids) == 0 or class_ids[0] != BLANK:
            raise CharsetError("a charset subset must start with the blank class")
        table = tuple(self._table[int(i)] for i in class_ids)
        sub = Charset(table[1:] or ("",), use_space=False)
        sub.symbols = table[1:]
        sub._set_table(table)
        return sub

    def symbol(self, index: int) -> str:
        """The text of one class; the blank is the empty string."""
        return self._table[index]

    def decode_indices(self, indices: Iterable[int]) -> str:
        """Join the symbols of already-collapsed class indices; blanks contribute nothing."""
        table = self._table
        return "".join(table[int(i)] for i in indices)

    def has(self, symbol: str) -> bool:
        """Whether ``symbol`` has a class (the space only with ``use_space``)."""
        return symbol in self._index

    def encode(self, text: str) -> list[int]:
        """Class indices of ``text``, one per character (for training targets and tests)."""
        try:
            return [self._index[ch] for ch in text]
        except KeyError as exc:
            raise CharsetError(f"character {exc.args[0]!r} is not in the charset") from None
