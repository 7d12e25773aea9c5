"""What every training line source is: a name (which decides its scoring protocol), each
line's text and width/height ratio known before any decoding (so batches can be grouped by
width), and the pixels on demand — BGR uint8, decoded exactly as the server decodes uploads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.eval.protocol import Protocol as ScoreProtocol
from service.ocr.decode import decode_image
from service.ocr.types import Pixels


class LineSource(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def protocol(self) -> ScoreProtocol:
        """How validation compares readings with these labels."""
        ...

    def __len__(self) -> int: ...

    def text(self, i: int) -> str: ...

    def aspect(self, i: int) -> float: ...

    def pixels(self, i: int) -> Pixels: ...


def decode_pixels(data: bytes) -> Pixels:
    """Image bytes -> BGR uint8, exactly as the server decodes an upload."""
    return decode_image(data).pixels


@dataclass(frozen=True)
class LabelledLines:
    """The labels half of a source; subclasses add where the pixels come from."""

    name: str
    protocol: ScoreProtocol
    texts: tuple[str, ...]
    aspects: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def text(self, i: int) -> str:
        return self.texts[i]

    def aspect(self, i: int) -> float:
        return self.aspects[i]
