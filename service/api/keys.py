"""API keys without the HTTP stack (the `ocr keys` command uses this too).

Only SHA-256 digests of keys are configured (OCR_API_KEYS), never the keys: a leaked config
grants nothing. A key's id is the first 16 hex digits of its digest: what the logs, the quotas
and the result cache's partitions see.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

KEY_ID_CHARS = 16


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


def parse_digests(setting: str) -> frozenset[str]:
    """OCR_API_KEYS (comma list of hex digests, validated by Settings) -> the set, lower case."""
    return frozenset(d.strip().lower() for d in setting.split(",") if d.strip())


def key_id(digest: str) -> str:
    return digest[:KEY_ID_CHARS]


class KeyQuota:
    """A token bucket per key: ``per_min`` requests a minute, bursts of up to ``per_min``.
    Per process (per replica). ``per_min`` 0 = no quota."""

    def __init__(self, per_min: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_min = per_min
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when)

    def take(self, kid: str) -> float:
        """0 when the request may go (a token is spent); else seconds until one is there."""
        if self.per_min <= 0:
            return 0.0
        now = self.clock()
        tokens, then = self._buckets.get(kid, (float(self.per_min), now))
        tokens = min(float(self.per_min), tokens + (now - then) * self.per_min / 60)
        if tokens >= 1:
            self._buckets[kid] = (tokens - 1, now)
            return 0.0
        self._buckets[kid] = (tokens, now)
        return (1 - tokens) * 60 / self.per_min
