"""Line sets in LMDB (the usual container of large recognition sets: one memory-mapped file
instead of millions of small ones). Layout, keys ASCII::

    num-samples        count
    name               the set's name (decides its scoring protocol, see models.eval.protocol)
    image-000000001    encoded image bytes (PNG/JPEG)   (1-based, as in the CRNN tradition)
    label-000000001    UTF-8 text
    aspect-000000001   width / height as decimal text
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import lmdb
import numpy as np

from models.eval.protocol import protocol_for
from models.training.line_set import LabelledLines, decode_pixels
from service.ocr.types import Pixels

MAP_SIZE = 1 << 36  # address space only; the file grows with what is written
COMMIT_EVERY = 1000


def is_lmdb(path: Path) -> bool:
    return (path / "data.mdb").is_file()


def _key(kind: str, i: int) -> bytes:
    return f"{kind}-{i + 1:09d}".encode()


def _value(txn: lmdb.Transaction, key: bytes) -> bytes:
    value = txn.get(key)
    if value is None:
        raise KeyError(f"LMDB set lacks the key {key.decode()}")
    return bytes(value)


def image_aspect(data: bytes) -> float:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError("undecodable image bytes")
    return float(pixels.shape[1] / max(1, pixels.shape[0]))


def write_lmdb(path: Path, name: str, items: Iterable[tuple[bytes, str]]) -> int:
    """Write (image bytes, text) pairs; returns how many. Replaces an existing set."""
    path.mkdir(parents=True, exist_ok=True)
    cached = _ENVS.pop((os.getpid(), str(path.resolve())), None)
    if cached is not None:
        cached.close()
    for old in ("data.mdb", "lock.mdb"):
        (path / old).unlink(missing_ok=True)
    env = lmdb.open(str(path), map_size=MAP_SIZE)
    n = 0
    txn = env.begin(write=True)
    for n, (data, text) in enumerate(items, start=1):
        txn.put(_key("image", n - 1), data)
        txn.put(_key("label", n - 1), text.encode())
        txn.put(_key("aspect", n - 1), f"{image_aspect(data):.6f}".encode())
        if n % COMMIT_EVERY == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.put(b"num-samples", str(n).encode())
    txn.put(b"name", name.encode())
    txn.commit()
    env.close()
    return n


_ENVS: dict[tuple[int, str], lmdb.Environment] = {}


def reader(path: Path) -> lmdb.Environment:
    """One read-only environment per (process, folder): LMDB refuses a second open of the same
    folder in a process, and an environment must not cross a fork (data-loader workers)."""
    key = (os.getpid(), str(path.resolve()))
    if key not in _ENVS:
        _ENVS[key] = lmdb.open(key[1], readonly=True, lock=False, readahead=False)
    return _ENVS[key]


@dataclass(frozen=True)
class LmdbLines(LabelledLines):
    """A ``LineSource`` over an LMDB set; texts and aspects are read once, images on demand."""

    path: Path

    @classmethod
    def open(cls, path: Path, limit: int | None = None) -> LmdbLines:
        with reader(path).begin() as txn:
            count = int(txn.get(b"num-samples") or b"0")
            n = count if limit is None else min(limit, count)
            name = (txn.get(b"name") or path.name.encode()).decode()
            texts = tuple(_value(txn, _key("label", i)).decode() for i in range(n))
            aspects = tuple(float(_value(txn, _key("aspect", i))) for i in range(n))
        return cls(name, protocol_for(name), texts, aspects, path)

    def image_bytes(self, i: int) -> bytes:
        with reader(self.path).begin() as txn:
            return _value(txn, _key("image", i))

    def pixels(self, i: int) -> Pixels:
        return decode_pixels(self.image_bytes(i))
